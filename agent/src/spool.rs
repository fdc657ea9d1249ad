//! The agent's on-disk spool: evidence waits here until the collector acks it.
//!
//! Evidence is appended to segment files as length-delimited protobuf
//! followed by the CRC-32 of its bytes, before it is sent, and synced to
//! disk before the batch carrying it leaves. An ack
//! moves the persisted ack cursor past the batch; a reconnect (or a restart,
//! even after `kill -9`) resends everything after the cursor, and the
//! collector's idempotent insert turns replays into no duplicates. When the
//! spool exceeds its size limit the oldest segment is dropped and counted, so
//! loss is reported, never silent.
//!
//! A record found unreadable on open (a bad disk block, a stray write) is
//! counted as dropped too. The checksum is what finds it: a damaged
//! protobuf often still decodes, as other evidence, and would be sent as
//! such. What follows it is kept: a record whose
//! length prefix is intact is skipped by that length; past a broken prefix
//! the scan resumes at the first offset from which records read cleanly to
//! the segment's end. The segment is then rewritten without the bad bytes
//! (the ack cursor moved with it), so sending never meets them. A record
//! cut short at a segment's end, as a crash leaves it, is truncated away.
//!
//! Segments written before records carried a checksum (`.seg`) are read
//! once on open and rewritten in the checked form (`.spool`).

use gamsa_proto::v1::Evidence;
use prost::Message;
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Segment files rotate at this size.
const SEGMENT_BYTES: u64 = 4 * 1024 * 1024;
/// Largest single record accepted when reading back (a corrupt length stops there).
const MAX_RECORD: usize = 16 * 1024 * 1024;
/// Records that must read in a row for a scan of an unchecked segment to
/// resume after a broken length prefix (or all those up to the segment's
/// end). In a checked one a record whose checksum matches is enough: a
/// stray match is a 1 in 2^32 chance, while asking for more would skip
/// intact records between two damaged ones.
const RESYNC: usize = 3;
/// The CRC-32 after each record's bytes.
const CRC_BYTES: usize = 4;

/// How a segment file lays out its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `.seg`, from before the checksum: a varint length, then the evidence.
    Unchecked,
    /// `.spool`: a varint length, the evidence, its CRC-32 (little-endian).
    Checked,
}

impl Format {
    fn trailer(self) -> usize {
        match self {
            Format::Unchecked => 0,
            Format::Checked => CRC_BYTES,
        }
    }

    /// Records that must read in a row to resume a scan (`RESYNC`).
    fn resync(self) -> usize {
        match self {
            Format::Unchecked => RESYNC,
            Format::Checked => 1,
        }
    }
}

/// One record in the checked form.
fn encode_record(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 10 + CRC_BYTES);
    prost::encoding::encode_varint(body.len() as u64, &mut out);
    out.extend_from_slice(body);
    out.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    out
}

#[derive(Debug, thiserror::Error)]
#[error("spool {path}: {source}")]
pub struct SpoolError {
    path: String,
    source: std::io::Error,
}

type Result<T> = std::result::Result<T, SpoolError>;

/// A position in the spool: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
struct Pos {
    seg: u64,
    off: u64,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    len: u64,
    /// Record end offsets, in order (to count and to find batch ends).
    ends: Vec<u64>,
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segments: VecDeque<Segment>,
    writer: File,
    /// Everything before this is acked (persisted in `cursor`).
    acked: Pos,
    /// Next record to send.
    send: Pos,
    /// Batches sent and not acked: seq → position after the batch.
    in_flight: BTreeMap<u64, Pos>,
    /// Batches acked out of order, waiting for earlier ones.
    acked_early: BTreeMap<u64, Pos>,
    next_seq: u64,
    dropped: u64,
    unsynced: bool,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.spool"))
}

/// A segment written before records carried a checksum.
fn unchecked_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.seg"))
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, recovering after a crash: a
    /// record cut short by the crash is truncated away.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Spool> {
        let err = |path: &Path| {
            let path = path.display().to_string();
            move |source| SpoolError { path, source }
        };
        std::fs::create_dir_all(dir).map_err(err(dir))?;
        let mut ids: Vec<u64> = std::fs::read_dir(dir)
            .map_err(err(dir))?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".spool")
                    .or_else(|| name.strip_suffix(".seg"))?
                    .parse()
                    .ok()
            })
            .collect();
        ids.sort();
        ids.dedup();
        let mut segments = VecDeque::new();
        let saved = read_cursor(&dir.join("cursor"));
        let mut cursor = saved;
        let mut dropped = 0;
        for id in ids {
            let path = seg_path(dir, id);
            let old = unchecked_path(dir, id);
            // A checked segment exists once its unchecked one is rewritten:
            // the old file is then only left over.
            let (from, format) = if path.exists() {
                std::fs::remove_file(&old).ok();
                (path.clone(), Format::Checked)
            } else {
                (old, Format::Unchecked)
            };
            let scanned = scan(&from, format).map_err(err(&from))?;
            let cursor_here = cursor.as_mut().filter(|c| c.seg == id);
            let ends = scanned
                .rewrite(&from, &path, cursor_here)
                .map_err(err(&from))?;
            if scanned.lost > 0 {
                tracing::warn!(
                    path = %path.display(),
                    records = scanned.lost,
                    bytes = scanned.lost_bytes,
                    "spool: unreadable records skipped and counted as dropped"
                );
            }
            dropped += scanned.lost;
            segments.push_back(Segment {
                id,
                len: ends.last().copied().unwrap_or(0),
                ends,
            });
        }
        if segments.is_empty() {
            let id = cursor.map(|c| c.seg).unwrap_or(0);
            segments.push_back(Segment {
                id,
                len: 0,
                ends: vec![],
            });
        }
        let first = segments.front().map(|s| s.id).unwrap_or(0);
        let acked = match cursor {
            // A cursor between records (its segment rewritten, the cursor
            // not yet) goes back to a record end: a resend is harmless.
            Some(c) if c.seg >= first => {
                let seg = segments.iter().find(|s| s.id == c.seg);
                let off = seg.map_or(c.off, |s| {
                    s.ends
                        .iter()
                        .copied()
                        .filter(|e| *e <= c.off)
                        .max()
                        .unwrap_or(0)
                });
                Pos { seg: c.seg, off }
            }
            _ => Pos { seg: first, off: 0 },
        };
        let last = segments.back().map(|s| s.id).unwrap_or(0);
        let path = seg_path(dir, last);
        let writer = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(err(&path))?;
        let spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(SEGMENT_BYTES),
            segments,
            writer,
            acked,
            send: acked,
            in_flight: BTreeMap::new(),
            acked_early: BTreeMap::new(),
            next_seq: 1,
            dropped,
            unsynced: false,
        };
        if saved.is_some_and(|c| c != spool.acked) {
            spool.save_cursor()?;
        }
        Ok(spool)
    }

    fn io<T>(&self, r: std::io::Result<T>) -> Result<T> {
        r.map_err(|source| SpoolError {
            path: self.dir.display().to_string(),
            source,
        })
    }

    /// Appends evidence (written, not yet synced; `next_batch` syncs).
    pub fn push(&mut self, ev: &Evidence) -> Result<()> {
        if self.segments.back().is_some_and(|s| s.len >= SEGMENT_BYTES) {
            self.rotate()?;
        }
        let bytes = encode_record(&ev.encode_to_vec());
        let r = self.writer.write_all(&bytes);
        self.io(r)?;
        let seg = self.segments.back_mut().expect("a segment is always open");
        seg.len += bytes.len() as u64;
        seg.ends.push(seg.len);
        self.unsynced = true;
        self.enforce_limit()
    }

    fn rotate(&mut self) -> Result<()> {
        let r = self.writer.sync_data();
        self.io(r)?;
        let id = self.segments.back().map(|s| s.id + 1).unwrap_or(0);
        let path = seg_path(&self.dir, id);
        let r = OpenOptions::new().create(true).append(true).open(&path);
        self.writer = self.io(r)?;
        self.segments.push_back(Segment {
            id,
            len: 0,
            ends: vec![],
        });
        Ok(())
    }

    fn total_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.len).sum()
    }

    /// Over the limit: drop the oldest whole segment and count what in it
    /// was not yet acked.
    fn enforce_limit(&mut self) -> Result<()> {
        while self.total_bytes() > self.max_bytes && self.segments.len() > 1 {
            let seg = self.segments.pop_front().expect("more than one segment");
            let unacked = if self.acked.seg > seg.id {
                0
            } else {
                seg.ends.iter().filter(|e| **e > self.acked.off).count() as u64
            };
            self.dropped += unacked;
            let r = std::fs::remove_file(seg_path(&self.dir, seg.id));
            self.io(r)?;
            let next = Pos {
                seg: seg.id + 1,
                off: 0,
            };
            if self.acked < next {
                self.acked = next;
                self.save_cursor()?;
            }
            if self.send < next {
                self.send = next;
            }
            self.in_flight.retain(|_, end| *end > next);
        }
        Ok(())
    }

    /// Evidence held and not yet acked.
    pub fn len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.id.cmp(&self.acked.seg) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => s.ends.iter().filter(|e| **e > self.acked.off).count(),
                std::cmp::Ordering::Greater => s.ends.len(),
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Evidence not yet sent.
    pub fn unsent(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.id.cmp(&self.send.seg) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => s.ends.iter().filter(|e| **e > self.send.off).count(),
                std::cmp::Ordering::Greater => s.ends.len(),
            })
            .sum()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Takes the count of evidence dropped since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// The next batch to send (synced to disk first), with its sequence number.
    pub fn next_batch(&mut self, max: usize) -> Result<Option<(u64, Vec<Evidence>)>> {
        if self.unsent() == 0 {
            return Ok(None);
        }
        if self.unsynced {
            let r = self.writer.sync_data();
            self.io(r)?;
            self.unsynced = false;
        }
        let mut batch = Vec::new();
        let mut pos = self.send;
        while batch.len() < max {
            let Some(seg) = self.segments.iter().find(|s| s.id >= pos.seg) else {
                break;
            };
            if seg.id != pos.seg {
                pos = Pos {
                    seg: seg.id,
                    off: 0,
                };
            }
            if pos.off >= seg.len {
                match self.segments.iter().find(|s| s.id > pos.seg) {
                    Some(next) => {
                        pos = Pos {
                            seg: next.id,
                            off: 0,
                        };
                        continue;
                    }
                    None => break,
                }
            }
            let path = seg_path(&self.dir, seg.id);
            let r = read_records(&path, pos.off, max - batch.len());
            let (records, end) = self.io(r)?;
            if records.is_empty() {
                break;
            }
            batch.extend(records);
            pos.off = end;
        }
        if batch.is_empty() {
            return Ok(None);
        }
        self.send = pos;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.in_flight.insert(seq, pos);
        Ok(Some((seq, batch)))
    }

    /// The collector committed batch `seq`: persist the new ack cursor and
    /// delete segments that are wholly acked.
    pub fn ack(&mut self, seq: u64) -> Result<()> {
        let Some(end) = self.in_flight.remove(&seq) else {
            return Ok(());
        };
        self.acked_early.insert(seq, end);
        // Advance only over a contiguous prefix of acked batches.
        let mut advanced = false;
        while let Some((&first, &end)) = self.acked_early.iter().next() {
            if self.in_flight.keys().next().is_some_and(|&f| f < first) {
                break;
            }
            self.acked_early.remove(&first);
            if end > self.acked {
                self.acked = end;
                advanced = true;
            }
        }
        if advanced {
            self.save_cursor()?;
            while self.segments.len() > 1
                && self.segments.front().is_some_and(|s| {
                    s.id < self.acked.seg
                        || (s.id == self.acked.seg
                            && self.acked.off >= s.len
                            && s.id != self.segments.back().map(|b| b.id).unwrap_or(0))
                })
            {
                let seg = self.segments.pop_front().expect("checked");
                let r = std::fs::remove_file(seg_path(&self.dir, seg.id));
                self.io(r)?;
            }
        }
        Ok(())
    }

    /// The connection dropped: everything unacked will be sent again.
    pub fn requeue(&mut self) {
        self.in_flight.clear();
        self.acked_early.clear();
        self.send = self.acked;
    }

    fn save_cursor(&self) -> Result<()> {
        let tmp = self.dir.join("cursor.tmp");
        let body = format!("{} {}\n", self.acked.seg, self.acked.off);
        let r = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(body.as_bytes())?;
            f.sync_data()?;
            std::fs::rename(&tmp, self.dir.join("cursor"))
        })();
        self.io(r)
    }
}

fn read_cursor(path: &Path) -> Option<Pos> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut it = text.split_whitespace();
    Some(Pos {
        seg: it.next()?.parse().ok()?,
        off: it.next()?.parse().ok()?,
    })
}

/// Reads a varint length prefix; None at a clean end of data.
fn read_len(r: &mut impl Read) -> std::io::Result<Option<(usize, u64)>> {
    let mut value: u64 = 0;
    let mut byte = [0u8; 1];
    for i in 0..10 {
        if r.read(&mut byte)? == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(std::io::ErrorKind::UnexpectedEof.into())
            };
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(Some((value as usize, i as u64 + 1)));
        }
    }
    Err(std::io::Error::other("bad length prefix"))
}

/// What `scan` found in a segment: the byte ranges of its readable
/// records, and how much it lost.
struct Scanned {
    format: Format,
    records: Vec<(u64, u64)>,
    /// The file's length.
    len: u64,
    /// Records (at least one per unreadable stretch) and bytes skipped.
    lost: u64,
    lost_bytes: u64,
}

/// The record at `off` of `data`: its end, if it reads as evidence (and
/// its checksum matches, in the checked form).
fn record_at(data: &[u8], off: usize, format: Format) -> Option<usize> {
    let mut rest = &data[off..];
    let len = prost::encoding::decode_varint(&mut rest).ok()? as usize;
    let start = data.len() - rest.len();
    if len > MAX_RECORD || len + format.trailer() > rest.len() {
        return None;
    }
    let body = &rest[..len];
    if format == Format::Checked {
        let crc = u32::from_le_bytes(rest[len..len + CRC_BYTES].try_into().ok()?);
        if crc32fast::hash(body) != crc {
            return None;
        }
    }
    // Every evidence has an id: a stray zero byte is no (empty) record.
    let ev = Evidence::decode(body).ok()?;
    (!ev.id.is_empty()).then_some(start + len + format.trailer())
}

/// Whether `n` records (or all up to the end of `data`) read from `off`.
fn reads_on(data: &[u8], mut off: usize, n: usize, format: Format) -> bool {
    for _ in 0..n {
        if off == data.len() {
            return true;
        }
        match record_at(data, off, format) {
            Some(end) => off = end,
            None => return false,
        }
    }
    true
}

/// The readable records of a segment. An unreadable one is skipped by its
/// length when its prefix is intact and a record (or the end) follows;
/// else the scan resumes at the first offset from which records read again
/// ([`RESYNC`]). What is left at the end is a torn record.
fn scan(path: &Path, format: Format) -> std::io::Result<Scanned> {
    let data = std::fs::read(path)?;
    let mut found = Scanned {
        format,
        records: Vec::new(),
        len: data.len() as u64,
        lost: 0,
        lost_bytes: 0,
    };
    let mut off = 0;
    while off < data.len() {
        if let Some(end) = record_at(&data, off, format) {
            found.records.push((off as u64, end as u64));
            off = end;
            continue;
        }
        let by_length = {
            let mut rest = &data[off..];
            prost::encoding::decode_varint(&mut rest)
                .ok()
                .map(|len| data.len() - rest.len() + len as usize + format.trailer())
                .filter(|end| *end <= data.len() && reads_on(&data, *end, 1, format))
        };
        let resume = by_length
            .or_else(|| {
                (off + 1..data.len()).find(|&p| reads_on(&data, p, format.resync(), format))
            })
            .unwrap_or(data.len());
        found.lost += 1;
        found.lost_bytes += (resume - off) as u64;
        off = resume;
    }
    Ok(found)
}

impl Scanned {
    /// Makes `to` hold only the readable records of `from`, in the checked
    /// form (truncating a torn tail, rewriting around unreadable ones or
    /// from the unchecked form), and moves `cursor` with them; the record
    /// ends.
    fn rewrite(
        &self,
        from: &Path,
        to: &Path,
        cursor: Option<&mut Pos>,
    ) -> std::io::Result<Vec<u64>> {
        let grows = self.format.trailer() < CRC_BYTES;
        let mut ends = Vec::with_capacity(self.records.len());
        let mut kept = 0;
        for (start, end) in &self.records {
            kept += end - start;
            if grows {
                kept += CRC_BYTES as u64;
            }
            ends.push(kept);
        }
        let contiguous = self.records.last().is_none_or(|(_, end)| *end == kept);
        if contiguous && !grows {
            if kept < self.len {
                OpenOptions::new().write(true).open(to)?.set_len(kept)?;
            }
            return Ok(ends);
        }
        if let Some(c) = cursor {
            c.off = self
                .records
                .iter()
                .zip(&ends)
                .rfind(|((_, end), _)| *end <= c.off)
                .map_or(0, |(_, kept)| *kept);
        }
        let data = std::fs::read(from)?;
        let tmp = to.with_extension("spool.tmp");
        let mut f = File::create(&tmp)?;
        for (start, end) in &self.records {
            let record = &data[*start as usize..*end as usize];
            if grows {
                let mut body = record;
                prost::encoding::decode_varint(&mut body).map_err(std::io::Error::other)?;
                f.write_all(&encode_record(body))?;
            } else {
                f.write_all(record)?;
            }
        }
        f.sync_data()?;
        std::fs::rename(&tmp, to)?;
        if from != to {
            std::fs::remove_file(from)?;
        }
        Ok(ends)
    }
}

/// Reads up to `max` records from `off`; returns them and the offset after.
fn read_records(path: &Path, off: u64, max: usize) -> std::io::Result<(Vec<Evidence>, u64)> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(off))?;
    let mut r = BufReader::new(f);
    let (mut out, mut pos) = (Vec::new(), off);
    while out.len() < max {
        match read_len(&mut r)? {
            Some((len, prefix)) if len <= MAX_RECORD => {
                let mut buf = vec![0u8; len + CRC_BYTES];
                r.read_exact(&mut buf)?;
                let (body, crc) = buf.split_at(len);
                if crc32fast::hash(body).to_le_bytes() != crc {
                    return Err(std::io::Error::other(format!(
                        "record at offset {pos}: checksum mismatch"
                    )));
                }
                out.push(Evidence::decode(body).map_err(std::io::Error::other)?);
                pos += prefix + (len + CRC_BYTES) as u64;
            }
            Some(_) => return Err(std::io::Error::other("record larger than the spool allows")),
            None => break,
        }
    }
    Ok((out, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(i: usize) -> Evidence {
        Evidence {
            id: format!("ev-{i:06}"),
            subject: "x".repeat(200),
            ..Default::default()
        }
    }

    fn ids(b: &[Evidence]) -> Vec<String> {
        b.iter().map(|e| e.id.clone()).collect()
    }

    #[test]
    fn acked_evidence_is_gone_after_restart_and_unacked_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        for i in 0..10 {
            s.push(&ev(i)).unwrap();
        }
        let (a, first) = s.next_batch(4).unwrap().unwrap();
        let (_b, second) = s.next_batch(4).unwrap().unwrap();
        assert_eq!(ids(&first)[0], "ev-000000");
        assert_eq!(ids(&second)[0], "ev-000004");
        s.ack(a).unwrap();
        drop(s); // as after kill -9: nothing else is written
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.len(), 6);
        let (_, again) = s.next_batch(100).unwrap().unwrap();
        assert_eq!(
            ids(&again),
            (4..10).map(|i| format!("ev-{i:06}")).collect::<Vec<_>>()
        );
    }

    #[test]
    fn out_of_order_acks_wait_for_earlier_batches() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        for i in 0..6 {
            s.push(&ev(i)).unwrap();
        }
        let (a, _) = s.next_batch(2).unwrap().unwrap();
        let (b, _) = s.next_batch(2).unwrap().unwrap();
        s.ack(b).unwrap();
        assert_eq!(
            s.len(),
            6,
            "batch a is not acked, so nothing may be released"
        );
        s.ack(a).unwrap();
        assert_eq!(s.len(), 2);
        s.requeue();
        let (_, rest) = s.next_batch(10).unwrap().unwrap();
        assert_eq!(ids(&rest), ["ev-000004", "ev-000005"]);
    }

    #[test]
    fn a_torn_last_record_is_truncated_on_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        for i in 0..3 {
            s.push(&ev(i)).unwrap();
        }
        drop(s);
        let seg = seg_path(dir.path(), 0);
        let len = std::fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 10).unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.len(), 2);
        s.push(&ev(3)).unwrap();
        let (_, all) = s.next_batch(10).unwrap().unwrap();
        assert_eq!(ids(&all), ["ev-000000", "ev-000001", "ev-000003"]);
    }

    #[test]
    fn unreadable_records_are_counted_and_those_after_them_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        for i in 0..10 {
            s.push(&ev(i)).unwrap();
        }
        let ends = s.segments[0].ends.clone();
        let (a, _) = s.next_batch(2).unwrap().unwrap();
        s.ack(a).unwrap();
        drop(s);
        let seg = seg_path(dir.path(), 0);
        let mut data = std::fs::read(&seg).unwrap();
        // Record 3: its body's first tag made invalid (length intact).
        data[ends[2] as usize + 2] = 0xff;
        // Record 6: its length prefix broken.
        data[ends[5] as usize] = 0xff;
        std::fs::write(&seg, &data).unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.take_dropped(), 2);
        assert_eq!(s.len(), 6, "records 0 and 1 stay acked");
        let (_, rest) = s.next_batch(100).unwrap().unwrap();
        assert_eq!(
            ids(&rest),
            [
                "ev-000002",
                "ev-000004",
                "ev-000005",
                "ev-000007",
                "ev-000008",
                "ev-000009"
            ]
        );
        drop(s);
        // Rewritten: a second open finds nothing wrong.
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!((s.take_dropped(), s.len()), (0, 6));
    }

    #[test]
    fn two_broken_lengths_close_together_lose_only_their_own_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        for i in 0..8 {
            s.push(&ev(i)).unwrap();
        }
        let ends = s.segments[0].ends.clone();
        drop(s);
        let seg = seg_path(dir.path(), 0);
        let mut data = std::fs::read(&seg).unwrap();
        // Records 2 and 4 (one intact record between them): length prefixes broken.
        data[ends[1] as usize] = 0xff;
        data[ends[3] as usize] = 0xff;
        std::fs::write(&seg, &data).unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.take_dropped(), 2);
        let (_, rest) = s.next_batch(100).unwrap().unwrap();
        assert_eq!(
            ids(&rest),
            [
                "ev-000000",
                "ev-000001",
                "ev-000003",
                "ev-000005",
                "ev-000006",
                "ev-000007"
            ]
        );
    }

    #[test]
    fn a_damaged_record_that_still_decodes_is_caught_by_its_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        for i in 0..3 {
            s.push(&ev(i)).unwrap();
        }
        let ends = s.segments[0].ends.clone();
        drop(s);
        let seg = seg_path(dir.path(), 0);
        let mut data = std::fs::read(&seg).unwrap();
        // A byte of record 1's subject changed: still valid protobuf.
        let at = ends[0] as usize + 40;
        assert_eq!(data[at], b'x');
        data[at] = b'y';
        let mut body = &data[ends[0] as usize..ends[1] as usize - CRC_BYTES];
        prost::encoding::decode_varint(&mut body).unwrap();
        assert!(Evidence::decode(body).is_ok(), "the damage decodes");
        std::fs::write(&seg, &data).unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.take_dropped(), 1);
        let (_, rest) = s.next_batch(10).unwrap().unwrap();
        assert_eq!(ids(&rest), ["ev-000000", "ev-000002"]);
    }

    #[test]
    fn unchecked_segments_are_rewritten_checked_with_the_cursor_moved() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for i in 0..5 {
            data.extend(ev(i).encode_length_delimited_to_vec());
            ends.push(data.len());
        }
        let old = unchecked_path(dir.path(), 7);
        std::fs::write(&old, &data).unwrap();
        // Records 0 and 1 were acked.
        std::fs::write(dir.path().join("cursor"), format!("7 {}\n", ends[1])).unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!((s.take_dropped(), s.len()), (0, 3));
        assert!(!old.exists() && seg_path(dir.path(), 7).exists());
        s.push(&ev(5)).unwrap();
        let (_, rest) = s.next_batch(10).unwrap().unwrap();
        assert_eq!(
            ids(&rest),
            ["ev-000002", "ev-000003", "ev-000004", "ev-000005"]
        );
        drop(s);
        let s = Spool::open(dir.path(), 1 << 30).unwrap();
        assert_eq!(s.len(), 4);
    }

    #[test]
    fn over_the_limit_the_oldest_segment_is_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), SEGMENT_BYTES).unwrap();
        let n = (3 * SEGMENT_BYTES / 210) as usize;
        for i in 0..n {
            s.push(&ev(i)).unwrap();
        }
        let dropped = s.take_dropped();
        assert!(dropped > 0);
        assert_eq!(s.len() as u64 + dropped, n as u64);
        assert!(s.total_bytes() <= SEGMENT_BYTES + SEGMENT_BYTES / 100);
        let (_, batch) = s.next_batch(1).unwrap().unwrap();
        assert_eq!(batch[0].id, format!("ev-{:06}", dropped), "oldest first");
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(files <= 3, "dropped segments are deleted ({files} files)");
    }

    #[test]
    fn acked_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Spool::open(dir.path(), 1 << 30).unwrap();
        let n = (2 * SEGMENT_BYTES / 210) as usize + 10;
        for i in 0..n {
            s.push(&ev(i)).unwrap();
        }
        while let Some((seq, _)) = s.next_batch(5000).unwrap() {
            s.ack(seq).unwrap();
        }
        assert!(s.is_empty());
        let segs = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "spool"))
            .count();
        assert_eq!(segs, 1, "only the open segment remains");
    }
}
