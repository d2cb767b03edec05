//! What a vaccination centre needs to check slips offline.
//!
//! `CHECKIN_KEY=<seed> cargo run -q -p booking-core --example check_in -- public-key` prints the
//! public key to hand to centres (it cannot sign); `... -- verify <public-key> <code>` checks a
//! code read from a slip's QR code and prints what it vouches for.
use booking_core::check_in::verify;
use booking_core::config::check_in::check_in_key;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["public-key"] => match check_in_key(|name| std::env::var(name).ok()) {
            Ok(key) => println!("{}", key.public_key_text()),
            Err(error) => fail(&error.to_string()),
        },
        ["verify", public_key, code] => match verify(public_key, code) {
            Ok(check_in) => println!(
                "valid: booking {} on {} at {}, ID ending {}",
                check_in.booking_number, check_in.date, check_in.location, check_in.id_last_four
            ),
            Err(error) => fail(&error.to_string()),
        },
        _ => fail("usage: check_in public-key | check_in verify <public-key> <code>"),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(1)
}
