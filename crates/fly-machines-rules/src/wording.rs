//! How errors word a value that is almost right: the closest word, and lists read aloud.

/// The accepted word closest to `value`, if one is close enough to be a likely typo: the same
/// word in another case, or one at most a third of its length in edits away.
pub fn closest(value: &str, candidates: &[&'static str]) -> Option<&'static str> {
    if let Some(same) = candidates.iter().find(|c| c.eq_ignore_ascii_case(value)) {
        return Some(same);
    }
    let lowered = value.to_lowercase();
    candidates
        .iter()
        .map(|c| (edit_distance(&lowered, &c.to_lowercase()), *c))
        .filter(|(distance, c)| *distance <= (c.chars().count() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, c)| c)
}

/// Edits (insertions, deletions, substitutions and swaps of neighbours) between `a` and `b`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: edits between the first i chars of `a` and the first j of `b`.
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

pub(crate) fn list_words(words: &[&str]) -> String {
    let quoted: Vec<String> = words.iter().map(|w| format!("`{w}`")).collect();
    join_or(&quoted)
}

pub(crate) fn list_numbers(numbers: &[u32]) -> String {
    let written: Vec<String> = numbers.iter().map(u32::to_string).collect();
    join_or(&written)
}

pub(crate) fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [only] => only.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
