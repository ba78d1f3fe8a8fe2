//! Suffix array construction. (Skeleton: a naive placeholder until the real sorter lands.)

/// The suffix array of `text`: the start offsets of its suffixes in lexicographic order.
///
/// Placeholder: a comparison sort, quadratic on long runs. Replaced by induced sorting.
pub fn suffix_array(text: &[u8]) -> Vec<u32> {
    assert!(text.len() < u32::MAX as usize, "placeholder supports < 4 GiB");
    let mut sa: Vec<u32> = (0..text.len() as u32).collect();
    sa.sort_unstable_by(|&a, &b| text[a as usize..].cmp(&text[b as usize..]));
    sa
}
