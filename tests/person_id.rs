//! The people tests and examples book as.

/// The `n`th test person's MyKad number, distinct for every `n`: a real birth date (a new one
/// every 10,000 people: day 1-28 of a month of a year from 1990), the Kuala Lumpur birthplace
/// code 14, and `n` in the last four digits. IDs must be real MyKad numbers (or the passport
/// form), so tests make them here rather than typing made-up ones. The load tools make theirs
/// the same way (tools/lambda-bench, tools/rush, scripts/bench).
pub fn person_id(n: usize) -> String {
    let date = n / 10_000;
    let (year, month, day) = ((90 + date / 336) % 100, 1 + (date / 28) % 12, 1 + date % 28);
    format!("{year:02}{month:02}{day:02}14{:04}", n % 10_000)
}
