//! Firmware-like image pairs generated from fuzz bytes.
//!
//! An image is a list of items laid out from a flash base address: code bytes, calls
//! (`E8` + a 32-bit displacement to a function, as on x86, so moving code changes the
//! displacement bytes), absolute pointers to functions (vector and jump tables), constants,
//! and runs of `0xFF` (erased flash) or `0x00` (padding). The new version applies edits to
//! the item list (inserted code that shifts everything after it, deleted code, changed
//! constants, grown or shrunk padding, retargeted calls, duplicated ranges) and both images
//! are rendered from their lists, so every call displacement and pointer after an edit is
//! relocated exactly as a linker would.

use crate::input::Input;

/// Flash base address of the rendered images.
const BASE: u32 = 0x0800_0000;

/// One item of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Code or data bytes.
    Bytes(Vec<u8>),
    /// `E8` and the displacement to function `n` (modulo the number of functions).
    Call(usize),
    /// The absolute address of function `n`.
    Ptr(usize),
    /// `len` bytes of `byte`.
    Fill(u8, usize),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Bytes(b) => b.len(),
            Item::Call(_) => 5,
            Item::Ptr(_) => 4,
            Item::Fill(_, n) => *n,
        }
    }
}

/// An image as items plus the items where functions start.
#[derive(Debug, Clone, Default)]
struct Image {
    items: Vec<Item>,
    funcs: Vec<usize>,
}

impl Image {
    fn render(&self) -> Vec<u8> {
        let mut offsets = Vec::with_capacity(self.items.len() + 1);
        let mut at = 0usize;
        for it in &self.items {
            offsets.push(at);
            at += it.len();
        }
        offsets.push(at);
        let addr = |func: usize| -> u32 {
            let item = if self.funcs.is_empty() {
                0
            } else {
                self.funcs[func % self.funcs.len()]
            };
            BASE.wrapping_add(offsets[item.min(self.items.len())] as u32)
        };
        let mut out = Vec::with_capacity(at);
        for (i, it) in self.items.iter().enumerate() {
            match it {
                Item::Bytes(b) => out.extend_from_slice(b),
                Item::Call(f) => {
                    let next = BASE.wrapping_add((offsets[i] + 5) as u32);
                    out.push(0xE8);
                    out.extend_from_slice(&addr(*f).wrapping_sub(next).to_le_bytes());
                }
                Item::Ptr(f) => out.extend_from_slice(&addr(*f).to_le_bytes()),
                Item::Fill(b, n) => out.resize(out.len() + n, *b),
            }
        }
        out
    }

    fn size(&self) -> usize {
        self.items.iter().map(Item::len).sum()
    }

    fn insert(&mut self, at: usize, item: Item) {
        let at = at.min(self.items.len());
        self.items.insert(at, item);
        for f in &mut self.funcs {
            if *f >= at {
                *f += 1;
            }
        }
    }

    fn remove(&mut self, at: usize) {
        if at >= self.items.len() {
            return;
        }
        self.items.remove(at);
        for f in &mut self.funcs {
            if *f > at {
                *f -= 1;
            }
        }
    }
}

/// A source and a destination image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The old image.
    pub src: Vec<u8>,
    /// The new image.
    pub dst: Vec<u8>,
}

/// Code-looking bytes: the input's, with a few common opcodes mixed in.
fn code(inp: &mut Input, n: usize) -> Vec<u8> {
    const OPS: [u8; 8] = [0x55, 0x89, 0xE5, 0x8B, 0x45, 0xC3, 0x90, 0x48];
    inp.bytes_padded(n)
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            if i % 3 == 0 {
                OPS[usize::from(b & 7)]
            } else {
                b
            }
        })
        .collect()
}

fn item(inp: &mut Input, room: usize) -> (Item, bool) {
    let tag = inp.u8();
    let it = match tag % 8 {
        0..=2 => {
            let n = usize::from(inp.u8() % 64) + 1;
            Item::Bytes(code(inp, n))
        }
        3 => Item::Call(usize::from(inp.u8())),
        4 => Item::Ptr(usize::from(inp.u8())),
        5 => Item::Fill(0xFF, usize::from(inp.u16()) % 4096),
        6 => Item::Fill(0x00, usize::from(inp.u8()) * 4),
        _ => {
            let n = usize::from(inp.u8() % 8 + 1) * 4;
            Item::Bytes(inp.bytes_padded(n))
        }
    };
    let it = match it {
        Item::Fill(b, n) => Item::Fill(b, n.min(room)),
        other => other,
    };
    // Functions start at code items now and then.
    (it, tag.is_multiple_of(8) || tag & 0x80 != 0)
}

/// Generates a pair of at most `max_size` bytes per image from fuzz choices.
pub fn generate(inp: &mut Input, max_size: usize) -> Pair {
    let mut old = Image::default();
    let n_items = usize::from(inp.u8() % 64) + 1;
    for _ in 0..n_items {
        let room = max_size.saturating_sub(old.size());
        let (it, func) = item(inp, room);
        if it.len() > room {
            break;
        }
        if func || old.funcs.is_empty() {
            old.funcs.push(old.items.len());
        }
        old.items.push(it);
    }
    let mut new = old.clone();
    let n_edits = usize::from(inp.u8() % 8);
    for _ in 0..n_edits {
        let kind = inp.u8() % 6;
        let at = if new.items.is_empty() {
            0
        } else {
            usize::from(inp.u16()) % new.items.len()
        };
        let room = max_size.saturating_sub(new.size());
        match kind {
            0 => {
                // New code: everything after it moves.
                let (it, func) = item(inp, room);
                if it.len() <= room {
                    new.insert(at, it);
                    if func {
                        new.funcs.push(at);
                    }
                }
            }
            1 => new.remove(at),
            2 => {
                // A changed constant or patched instruction.
                if let Some(Item::Bytes(b)) = new.items.get_mut(at) {
                    if !b.is_empty() {
                        let i = usize::from(inp.u8()) % b.len();
                        b[i] ^= inp.u8() | 1;
                    }
                }
            }
            3 => {
                // Padding grows or shrinks.
                let delta = usize::from(inp.u16() % 2048);
                let grow = inp.u8() & 1 == 1;
                if let Some(Item::Fill(_, n)) = new.items.get_mut(at) {
                    *n = if grow {
                        *n + delta.min(room)
                    } else {
                        n.saturating_sub(delta)
                    };
                }
            }
            4 => {
                let f = usize::from(inp.u8());
                if let Some(Item::Call(t) | Item::Ptr(t)) = new.items.get_mut(at) {
                    *t = f;
                }
            }
            _ => {
                // A range of items duplicated (inlined or copied code).
                let len = usize::from(inp.u8() % 8) + 1;
                let end = (at + len).min(new.items.len());
                let copy: Vec<Item> = new.items[at..end].to_vec();
                let size: usize = copy.iter().map(Item::len).sum();
                if size <= room {
                    for (k, it) in copy.into_iter().enumerate() {
                        new.insert(end + k, it);
                    }
                }
            }
        }
    }
    Pair {
        src: old.render(),
        dst: new.render(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insertion_relocates_calls_and_pointers() {
        let mut img = Image {
            items: vec![
                Item::Call(1),
                Item::Bytes(vec![0x90; 3]),
                Item::Ptr(1),
                Item::Bytes(vec![0xC3]),
            ],
            funcs: vec![0, 3],
        };
        let before = img.render();
        // Call at 0 to the function at offset 12: displacement 12 - 5 = 7.
        assert_eq!(&before[..5], &[0xE8, 7, 0, 0, 0]);
        assert_eq!(&before[8..12], &(BASE + 12).to_le_bytes());
        img.insert(1, Item::Bytes(vec![1, 2]));
        let after = img.render();
        assert_eq!(&after[..5], &[0xE8, 9, 0, 0, 0]);
        assert_eq!(&after[10..14], &(BASE + 14).to_le_bytes());
    }

    #[test]
    fn sizes_stay_bounded() {
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        let pair = generate(&mut Input::new(&data), 50_000);
        assert!(pair.src.len() <= 50_000 && pair.dst.len() <= 50_000 + 5 * 64 * 8);
        assert!(!pair.src.is_empty());
    }
}
