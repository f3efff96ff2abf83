//! Structured mutations of real media: the edits a hostile or broken file makes to the
//! fields a demuxer or decoder trusts (an H.264 SPS's size, an MP4 sample table, a
//! Matroska track's pixel size, a JPEG SOF, a PNG IHDR, a Y4M header, MPEG-TS counters),
//! made on the bundled media so every test builds its own reproducer. Each returns false
//! (or None) when the file has no such field, never a half-edited file.

/// One MP4/MOV box: where it starts, its size with header, its type, and the starts of the
/// boxes it lies in (outermost first).
#[derive(Clone, Debug)]
pub struct Mp4Box {
    pub start: usize,
    pub size: usize,
    pub kind: [u8; 4],
    pub parents: Vec<usize>,
}

/// Boxes whose payload is a list of boxes, and where that list starts in the payload.
fn children_at(kind: &[u8; 4]) -> Option<usize> {
    match kind {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"edts" | b"dinf" | b"udta" | b"mvex" | b"moof" | b"traf" => {
            Some(8)
        }
        b"stsd" => Some(16),
        b"avc1" | b"avc3" | b"hvc1" | b"hev1" | b"mp4v" | b"av01" | b"vp09" => Some(8 + 78),
        b"mp4a" => Some(8 + 28),
        _ => None,
    }
}

/// Every box of `b` in file order (a box that does not fit ends the walk of its level).
pub fn mp4_boxes(b: &[u8]) -> Vec<Mp4Box> {
    fn walk(b: &[u8], from: usize, to: usize, parents: &mut Vec<usize>, out: &mut Vec<Mp4Box>) {
        let mut i = from;
        while i + 8 <= to {
            let size32 = u32::from_be_bytes(b[i..i + 4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = b[i + 4..i + 8].try_into().unwrap();
            let size = match size32 {
                0 => to - i,
                1 if i + 16 <= to => u64::from_be_bytes(b[i + 8..i + 16].try_into().unwrap()) as usize,
                s => s,
            };
            if size < 8 || i.checked_add(size).is_none_or(|e| e > to) {
                return;
            }
            out.push(Mp4Box { start: i, size, kind, parents: parents.clone() });
            if let Some(c) = children_at(&kind) {
                parents.push(i);
                walk(b, i + c, i + size, parents, out);
                parents.pop();
            }
            i += size;
        }
    }
    let mut out = Vec::new();
    walk(b, 0, b.len(), &mut Vec::new(), &mut out);
    out
}

/// The `nth` box of type `kind` (0 = the first, which is the video track's in the bundled
/// clips: their video track comes first).
pub fn mp4_find(b: &[u8], kind: &[u8; 4], nth: usize) -> Option<Mp4Box> {
    mp4_boxes(b).into_iter().filter(|x| &x.kind == kind).nth(nth)
}

/// Which track (0-based, in file order) has handler `kind` (b"vide", b"soun"): the `nth`
/// to give the per-track boxes (mdhd, stsd, stsz...) of that track.
pub fn mp4_track(b: &[u8], kind: &[u8; 4]) -> Option<usize> {
    mp4_boxes(b)
        .into_iter()
        .filter(|x| &x.kind == b"hdlr" && x.parents.len() >= 2)
        // a media handler (in mdia), not a data handler (in minf)
        .filter(|x| mp4_boxes(b).iter().any(|p| p.start == *x.parents.last().unwrap() && &p.kind == b"mdia"))
        .position(|x| &b[x.start + 16..x.start + 20] == kind)
}

/// Writes `value` at `offset` bytes into the `nth` box of type `kind`.
pub fn mp4_set_u32(b: &mut [u8], kind: &[u8; 4], nth: usize, offset: usize, value: u32) -> bool {
    let Some(x) = mp4_find(b, kind, nth) else { return false };
    if offset + 4 > x.size {
        return false;
    }
    b[x.start + offset..x.start + offset + 4].copy_from_slice(&value.to_be_bytes());
    true
}

/// Replaces the payload (after `header` bytes) of box `x` with `payload`, fixing the sizes of
/// the box and its parents and, when the box lies before the media data, every chunk offset.
pub fn mp4_replace_payload(b: &mut Vec<u8>, x: &Mp4Box, header: usize, payload: &[u8]) {
    let old = x.size - header;
    let delta = payload.len() as i64 - old as i64;
    b.splice(x.start + header..x.start + x.size, payload.iter().copied());
    for &at in x.parents.iter().chain([&x.start]) {
        let s = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as i64 + delta;
        b[at..at + 4].copy_from_slice(&(s as u32).to_be_bytes());
    }
    let before_media = mp4_boxes(b).iter().any(|m| &m.kind == b"mdat" && m.start > x.start);
    if delta == 0 || !before_media {
        return;
    }
    for table in mp4_boxes(b).into_iter().filter(|m| &m.kind == b"stco" || &m.kind == b"co64") {
        let wide = &table.kind == b"co64";
        let n = u32::from_be_bytes(b[table.start + 12..table.start + 16].try_into().unwrap()) as usize;
        let width = if wide { 8 } else { 4 };
        for k in 0..n.min((table.size - 16) / width) {
            let at = table.start + 16 + k * width;
            if wide {
                let v = u64::from_be_bytes(b[at..at + 8].try_into().unwrap()) as i64 + delta;
                b[at..at + 8].copy_from_slice(&(v as u64).to_be_bytes());
            } else {
                let v = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as i64 + delta;
                b[at..at + 4].copy_from_slice(&(v as u32).to_be_bytes());
            }
        }
    }
}

/// The first sample entry's type (codec tag) of the `nth` `stsd`, replaced by `tag`.
pub fn mp4_codec_tag(b: &mut [u8], nth: usize, tag: &[u8; 4]) -> bool {
    let Some(x) = mp4_find(b, b"stsd", nth) else { return false };
    if x.size < 24 {
        return false;
    }
    b[x.start + 20..x.start + 24].copy_from_slice(tag);
    true
}

/// The `mdhd` timescale of the `nth` track.
pub fn mp4_timescale(b: &mut [u8], nth: usize, value: u32) -> bool {
    let Some(x) = mp4_find(b, b"mdhd", nth) else { return false };
    let offset = if b[x.start + 8] == 1 { 28 } else { 20 };
    mp4_set_u32(b, b"mdhd", nth, offset, value)
}

struct BitReader<'a> {
    d: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = *self.d.get(self.pos / 8)?;
        self.pos += 1;
        Some(u32::from((byte >> (7 - (self.pos - 1) % 8)) & 1))
    }
    fn bits(&mut self, n: u32) -> Option<u32> {
        (0..n).try_fold(0u32, |v, _| Some((v << 1) | self.bit()?))
    }
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        Some((1u32 << zeros) - 1 + self.bits(zeros)?)
    }
    fn se(&mut self) -> Option<i64> {
        let k = self.ue()? as i64;
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    n: usize,
}

impl BitWriter {
    fn bit(&mut self, v: u32) {
        if self.n.is_multiple_of(8) {
            self.out.push(0);
        }
        if v != 0 {
            *self.out.last_mut().unwrap() |= 1 << (7 - self.n % 8);
        }
        self.n += 1;
    }
    fn ue(&mut self, v: u32) {
        let x = v as u64 + 1;
        let len = 64 - x.leading_zeros();
        (1..len).for_each(|_| self.bit(0));
        (0..len).rev().for_each(|i| self.bit(((x >> i) & 1) as u32));
    }
}

/// A NAL unit's payload without its emulation-prevention bytes, and back.
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &byte in nal {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + 4);
    let mut zeros = 0;
    for &byte in rbsp {
        if zeros >= 2 && byte <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

/// An H.264 SPS NAL unit (header byte included) with its picture size set to
/// `width_mbs`×`height_mbs` macroblocks (map units), every other field kept.
pub fn h264_sps_with_size(nal: &[u8], width_mbs: u32, height_mbs: u32) -> Option<Vec<u8>> {
    let rbsp = unescape(nal);
    let mut r = BitReader { d: &rbsp, pos: 8 };
    let profile = r.bits(8)?;
    r.bits(16)?; // constraint flags, level
    r.ue()?; // seq_parameter_set_id
    if [100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].contains(&profile) {
        let chroma = r.ue()?;
        if chroma == 3 {
            r.bit()?;
        }
        r.ue()?;
        r.ue()?;
        r.bit()?;
        if r.bit()? == 1 {
            for i in 0..if chroma == 3 { 12 } else { 8 } {
                if r.bit()? == 1 {
                    let size = if i < 6 { 16 } else { 64 };
                    let (mut last, mut next) = (8i64, 8i64);
                    for _ in 0..size {
                        if next != 0 {
                            next = (last + r.se()? + 256) % 256;
                        }
                        last = if next == 0 { last } else { next };
                    }
                }
            }
        }
    }
    r.ue()?; // log2_max_frame_num_minus4
    match r.ue()? {
        0 => {
            r.ue()?;
        }
        1 => {
            r.bit()?;
            r.se()?;
            r.se()?;
            for _ in 0..r.ue()? {
                r.se()?;
            }
        }
        _ => {}
    }
    r.ue()?; // max_num_ref_frames
    r.bit()?; // gaps_in_frame_num_value_allowed_flag
    let size_at = r.pos;
    r.ue()?;
    r.ue()?;
    let rest_at = r.pos;
    // the rest runs to the stop bit, the last set bit of the payload
    let last_byte = rbsp.iter().rposition(|&x| x != 0)?;
    let stop = last_byte * 8 + 7 - rbsp[last_byte].trailing_zeros() as usize;
    let mut w = BitWriter::default();
    let mut copy = BitReader { d: &rbsp, pos: 0 };
    (0..size_at).for_each(|_| w.bit(copy.bit().unwrap_or(0)));
    w.ue(width_mbs.checked_sub(1)?);
    w.ue(height_mbs.checked_sub(1)?);
    copy.pos = rest_at;
    (rest_at..=stop).for_each(|_| w.bit(copy.bit().unwrap_or(0)));
    Some(escape(&w.out))
}

/// The first SPS in the file's `avcC` rewritten to `width_mbs`×`height_mbs` macroblocks;
/// the sample description's own width and height are left as they were, as a hostile
/// file leaves them.
pub fn mp4_sps_size(b: &mut Vec<u8>, width_mbs: u32, height_mbs: u32) -> bool {
    let Some(x) = mp4_find(b, b"avcC", 0) else { return false };
    let p = &b[x.start + 8..x.start + x.size];
    if p.len() < 8 || p[5] & 0x1f == 0 {
        return false;
    }
    let len = u16::from_be_bytes([p[6], p[7]]) as usize;
    let Some(sps) = p.get(8..8 + len) else { return false };
    let Some(new) = h264_sps_with_size(sps, width_mbs, height_mbs) else { return false };
    let mut payload = p[..6].to_vec();
    payload.extend_from_slice(&(new.len() as u16).to_be_bytes());
    payload.extend_from_slice(&new);
    payload.extend_from_slice(&p[8 + len..]);
    mp4_replace_payload(b, &x, 8, &payload);
    true
}

/// An EBML variable-length integer at `i`: (value without its length marker, length).
fn ebml_vint(b: &[u8], i: usize) -> Option<(u64, usize)> {
    let first = *b.get(i)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 || i + len > b.len() {
        return None;
    }
    let mut v = u64::from(first) & ((1u64 << (8 - len)) - 1);
    for k in 1..len {
        v = (v << 8) | u64::from(b[i + k]);
    }
    Some((v, len))
}

/// The children of the EBML master element whose payload is `from..to`: (id with its
/// marker, payload start, payload length), or None when they do not tile it exactly.
fn ebml_children(b: &[u8], from: usize, to: usize) -> Option<Vec<(u64, usize, usize)>> {
    let mut out = Vec::new();
    let mut i = from;
    while i < to {
        let id_len = b.get(i)?.leading_zeros() as usize + 1;
        if id_len > 4 {
            return None;
        }
        let id = b.get(i..i + id_len)?.iter().fold(0u64, |v, &x| (v << 8) | u64::from(x));
        let (size, size_len) = ebml_vint(b, i + id_len)?;
        let start = i + id_len + size_len;
        let end = start.checked_add(size as usize)?;
        if end > to {
            return None;
        }
        out.push((id, start, size as usize));
        i = end;
    }
    (i == to).then_some(out)
}

/// The first Matroska video track's PixelWidth/PixelHeight set to `width`×`height` (each
/// written in the bytes the field already has: false when it does not fit).
pub fn mkv_video_size(b: &mut [u8], width: u64, height: u64) -> bool {
    for i in 0..b.len() {
        if b[i] != 0xE0 {
            continue;
        }
        let Some((size, len)) = ebml_vint(b, i + 1) else { continue };
        let (from, to) = (i + 1 + len, (i + 1 + len).saturating_add(size as usize));
        if to > b.len() {
            continue;
        }
        let Some(kids) = ebml_children(b, from, to) else { continue };
        let w = kids.iter().find(|k| k.0 == 0xB0).copied();
        let h = kids.iter().find(|k| k.0 == 0xBA).copied();
        let (Some(w), Some(h)) = (w, h) else { continue };
        let fits = |v: u64, n: usize| n >= 8 || v >> (8 * n) == 0;
        if !fits(width, w.2) || !fits(height, h.2) {
            return false;
        }
        for ((_, at, n), v) in [(w, width), (h, height)] {
            for k in 0..n {
                b[at + k] = (v >> (8 * (n - 1 - k))) as u8;
            }
        }
        return true;
    }
    false
}

/// The size in the JPEG's first start-of-frame segment.
pub fn jpeg_sof_size(b: &mut [u8], width: u16, height: u16) -> bool {
    let mut i = 2;
    while i + 9 <= b.len() && b[i] == 0xFF {
        let marker = b[i + 1];
        if (0xC0..=0xCF).contains(&marker) && ![0xC4, 0xC8, 0xCC].contains(&marker) {
            b[i + 5..i + 7].copy_from_slice(&height.to_be_bytes());
            b[i + 7..i + 9].copy_from_slice(&width.to_be_bytes());
            return true;
        }
        i += 2 + u16::from_be_bytes([b[i + 2], b[i + 3]]) as usize;
    }
    false
}

/// CRC-32 as PNG chunks carry it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &byte in data {
        c ^= u32::from(byte);
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
    }
    !c
}

/// The size in a PNG's IHDR, with the chunk's CRC made right again.
pub fn png_ihdr_size(b: &mut [u8], width: u32, height: u32) -> bool {
    if b.len() < 33 || &b[12..16] != b"IHDR" {
        return false;
    }
    b[16..20].copy_from_slice(&width.to_be_bytes());
    b[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&b[12..29]);
    b[29..33].copy_from_slice(&crc.to_be_bytes());
    true
}

/// A Y4M stream with its header's W and H tokens replaced.
pub fn y4m_size(b: &[u8], width: u64, height: u64) -> Option<Vec<u8>> {
    let end = b.iter().position(|&x| x == b'\n')?;
    let header = std::str::from_utf8(&b[..end]).ok()?;
    let tokens: Vec<String> = header
        .split(' ')
        .map(|t| match t.as_bytes().first() {
            Some(b'W') => format!("W{width}"),
            Some(b'H') => format!("H{height}"),
            _ => t.to_string(),
        })
        .collect();
    Some([tokens.join(" ").as_bytes(), &b[end..]].concat())
}

/// MPEG-TS packets `from..from+n` (188 bytes each, sync byte first) given `f` of their
/// continuity counter or PID; false when the file is not packetised that way.
pub fn ts_packets(b: &mut [u8], from: usize, n: usize, mut f: impl FnMut(&mut [u8])) -> bool {
    if b.len() < 188 || b[0] != 0x47 {
        return false;
    }
    let total = b.len() / 188;
    for k in from.min(total)..(from + n).min(total) {
        let p = &mut b[k * 188..(k + 1) * 188];
        if p[0] == 0x47 {
            f(p);
        }
    }
    true
}

/// A TS packet's PID set to `pid`.
pub fn ts_set_pid(p: &mut [u8], pid: u16) {
    p[1] = (p[1] & 0xE0) | ((pid >> 8) as u8 & 0x1F);
    p[2] = pid as u8;
}

/// A TS packet's continuity counter set to `cc`.
pub fn ts_set_cc(p: &mut [u8], cc: u8) {
    p[3] = (p[3] & 0xF0) | (cc & 0x0F);
}
