"""template.yaml as CloudFormation itself reads it: PyYAML, with the short intrinsic tags (!Ref,
!Sub, !If, ...) turned into their long JSON form ({"Ref": ...}, {"Fn::Sub": ...}), so checks and
the RIE test compare and resolve one representation."""
from pathlib import Path

import yaml


class CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that also knows CloudFormation's short tags."""


def _short_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _short_tag)


def load(path):
    """The template at `path` as plain dicts and lists, intrinsics in long form."""
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=CloudFormationLoader)


def ref(name):
    return {"Ref": name}
