//! `log --graph`: a session's tree drawn like `git log --graph`, newest first.
//!
//! Each column is a line of history waiting for a checkpoint (the parent of something already
//! drawn). A checkpoint is drawn in the column waiting for it, or in a new column when nothing
//! waits for it (a branch tip). When two columns wait for the same parent, the right one joins
//! the left with a `/` line: that is where a fork happened.

use rewind::{Checkpoint, CheckpointId};

/// One output line: the graph prefix and, for checkpoint rows, the checkpoint.
pub struct Row<'a> {
    pub graph: String,
    pub checkpoint: Option<&'a Checkpoint>,
}

/// Lays out `checkpoints` (newest first; `linked_parent` says which parent each one continues).
pub fn layout<'a>(
    checkpoints: &[&'a Checkpoint],
    linked_parent: impl Fn(&Checkpoint) -> Option<CheckpointId>,
) -> Vec<Row<'a>> {
    let mut columns: Vec<Option<CheckpointId>> = Vec::new();
    let mut rows = Vec::new();
    for cp in checkpoints {
        let col = match columns.iter().position(|c| *c == Some(cp.id)) {
            Some(col) => col,
            None => {
                columns.push(Some(cp.id));
                columns.len() - 1
            }
        };
        let graph: String = columns
            .iter()
            .enumerate()
            .map(|(i, _)| if i == col { "* " } else { "| " })
            .collect();
        rows.push(Row {
            graph,
            checkpoint: Some(cp),
        });
        // Other columns that also waited for this checkpoint end here: they were forks of it.
        let parent = linked_parent(cp);
        columns[col] = parent;
        let mut i = columns.len();
        while i > 0 {
            i -= 1;
            if i != col && columns[i] == Some(cp.id) {
                columns[i] = None;
            }
        }
        // Columns that now wait for the same parent join the leftmost one.
        if let Some(p) = parent {
            let first = columns.iter().position(|c| *c == Some(p));
            let dupes: Vec<usize> = columns
                .iter()
                .enumerate()
                .filter(|(i, c)| **c == Some(p) && Some(*i) != first)
                .map(|(i, _)| i)
                .collect();
            for d in dupes.into_iter().rev() {
                // "|/": column d joins the one to its left; columns right of it shift left.
                let mut graph = "| ".repeat(d);
                graph.pop();
                graph.push('/');
                for _ in d + 1..columns.len() {
                    graph.push_str(" /");
                }
                rows.push(Row {
                    graph,
                    checkpoint: None,
                });
                columns.remove(d);
            }
        }
        // A finished line (root, or parent outside the listing) frees its column.
        while columns.last() == Some(&None) {
            columns.pop();
        }
        if columns.get(col) == Some(&None) {
            columns.remove(col);
        }
    }
    rows
}
