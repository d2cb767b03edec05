//! The four languages citizens read the service in: Malay (the default), English, Simplified
//! Chinese and Tamil, chosen by `?lang=` or, failing that, `Accept-Language`. For what the server
//! renders itself (the slip, the calendar entry); the booking page carries its own dictionaries.
use lambda_http::http::header;
use lambda_http::{Request, RequestExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Malay,
    English,
    Chinese,
    Tamil,
}

impl Language {
    pub const ALL: [Self; 4] = [Self::Malay, Self::English, Self::Chinese, Self::Tamil];

    /// The BCP 47 tag, as `lang` attributes and `?lang=` write it.
    pub fn tag(self) -> &'static str {
        match self {
            Self::Malay => "ms",
            Self::English => "en",
            Self::Chinese => "zh",
            Self::Tamil => "ta",
        }
    }

    fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|language| language.tag() == primary)
    }

    /// `?lang=` if it names one of the four, else the first of `Accept-Language` (by its
    /// q-values) that does, else Malay.
    pub fn of(request: &Request) -> Self {
        // The event's parsed query where there is one; the URI's (local-api, tests) otherwise.
        let from_uri = || {
            request.uri().query().and_then(|query| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("lang="))
                    .and_then(Self::from_tag)
            })
        };
        if let Some(language) = request
            .query_string_parameters_ref()
            .and_then(|query| query.first("lang"))
            .and_then(Self::from_tag)
            .or_else(from_uri)
        {
            return language;
        }
        let accepted = request
            .headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        let mut ranked: Vec<(f32, Self)> = accepted
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let language = Self::from_tag(parts.next()?)?;
                let quality = parts
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse().ok())?;
                (quality > 0.0).then_some((quality, language))
            })
            .collect();
        // Stable: equal weights keep the client's order.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked
            .first()
            .map_or(Self::Malay, |(_, language)| *language)
    }

    /// A date (`YYYYMMDD`) as people in this language write it.
    pub fn date(self, yyyymmdd: &str) -> String {
        const MALAY: [&str; 12] = [
            "Januari",
            "Februari",
            "Mac",
            "April",
            "Mei",
            "Jun",
            "Julai",
            "Ogos",
            "September",
            "Oktober",
            "November",
            "Disember",
        ];
        const ENGLISH: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        const TAMIL: [&str; 12] = [
            "ஜனவரி",
            "பிப்ரவரி",
            "மார்ச்",
            "ஏப்ரல்",
            "மே",
            "ஜூன்",
            "ஜூலை",
            "ஆகஸ்ட்",
            "செப்டம்பர்",
            "அக்டோபர்",
            "நவம்பர்",
            "டிசம்பர்",
        ];
        let (Some(year), Some(month), Some(day)) = (
            yyyymmdd.get(..4),
            yyyymmdd.get(4..6).and_then(|m| m.parse::<usize>().ok()),
            yyyymmdd.get(6..8).and_then(|d| d.parse::<u32>().ok()),
        ) else {
            return yyyymmdd.to_owned();
        };
        let Some(index) = month.checked_sub(1).filter(|m| *m < 12) else {
            return yyyymmdd.to_owned();
        };
        match self {
            Self::Malay => format!("{day} {} {year}", MALAY[index]),
            Self::English => format!("{day} {} {year}", ENGLISH[index]),
            Self::Chinese => format!("{year}年{month}月{day}日"),
            Self::Tamil => format!("{day} {} {year}", TAMIL[index]),
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::Body;
    use lambda_http::http;

    use super::*;

    fn asking(accept: Option<&str>, query: Option<&str>) -> Language {
        let mut builder = http::Request::builder().uri("/booking/1/slip");
        if let Some(accept) = accept {
            builder = builder.header("accept-language", accept);
        }
        let mut request: Request = builder.body(Body::Empty).unwrap();
        if let Some(lang) = query {
            request = request.with_query_string_parameters(
                [("lang".to_owned(), lang.to_owned())]
                    .into_iter()
                    .collect::<std::collections::HashMap<_, _>>(),
            );
        }
        Language::of(&request)
    }

    #[test]
    fn the_language_comes_from_the_query_then_accept_language_then_malay() {
        assert_eq!(asking(None, None), Language::Malay);
        assert_eq!(asking(Some("en-GB,en;q=0.9"), None), Language::English);
        assert_eq!(
            asking(Some("fr, zh-CN;q=0.8, en;q=0.5"), None),
            Language::Chinese
        );
        assert_eq!(asking(Some("en;q=0.2, ta;q=0.9"), None), Language::Tamil);
        assert_eq!(asking(Some("fr, de"), None), Language::Malay);
        assert_eq!(asking(Some("en;q=0"), None), Language::Malay);
        assert_eq!(asking(Some("en"), Some("ta")), Language::Tamil);
        assert_eq!(asking(Some("en"), Some("xx")), Language::English);
    }

    #[test]
    fn dates_are_written_as_each_language_writes_them() {
        assert_eq!(Language::Malay.date("20210516"), "16 Mei 2021");
        assert_eq!(Language::English.date("20210516"), "16 May 2021");
        assert_eq!(Language::Chinese.date("20210516"), "2021年5月16日");
        assert_eq!(Language::Tamil.date("20210516"), "16 மே 2021");
        assert_eq!(Language::Malay.date("2021"), "2021");
    }
}
