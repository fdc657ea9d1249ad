//! The collector's clock, in Unix milliseconds: what the store stamps agents
//! and tokens with, what freshness windows and expiries are measured from.
//! A leaf, so that the store and the rules read time without reaching up
//! into the servers.

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn timestamp_now() -> gamsa_proto::Timestamp {
    let ms = now_ms();
    gamsa_proto::Timestamp {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}
