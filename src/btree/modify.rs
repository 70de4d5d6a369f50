//! Batched modification: a sorted list of inserts and removals is applied in one pass
//! down the affected paths. Untouched subtrees keep their pointers; every node on an
//! affected path is rewritten, split when it grows past the node size threshold, and
//! dropped when it becomes empty. The root grows new levels as needed and shrinks when
//! it is left with a single child.
//!
//! Splitting follows the original so our files have the same shape and size: a node
//! under construction is cut once it holds more than 3 items and exceeds the threshold;
//! the cut takes items from the front until at least 2/3 of the threshold is reached
//! (an interior node always takes at least 2 items).

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ExistingEntry;
use super::node::{NodeSizes, read_node};
use super::node_sink::{NodeSink, item_size, pointer_value};
use super::reduce::Reducer;
use crate::error::{Error, Result};
use crate::file::CouchFile;
use crate::format::pointer::InteriorPointer;
use crate::format::{NodeKind, NodePointer};

/// One change to a tree. Keys and values are borrowed where the caller already holds
/// them (a document's id), owned where they are encoded for the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    /// Insert or replace the value of a key.
    Insert(Cow<'a, [u8]>, Cow<'a, [u8]>),
    /// Remove a key (a missing key is not an error).
    Remove(Cow<'a, [u8]>),
}

impl Action<'_> {
    /// The key the action applies to.
    pub fn key(&self) -> &[u8] {
        match self {
            Action::Insert(k, _) | Action::Remove(k) => k,
        }
    }
}

/// A batch of actions on one tree, sorted by key with one action per key.
#[derive(Debug, Default)]
pub struct ModifyPlan<'a> {
    actions: Vec<Action<'a>>,
}

impl<'a> ModifyPlan<'a> {
    /// Sorts the actions by key; for repeated keys the last one given wins.
    pub fn new(mut actions: Vec<Action<'a>>) -> Self {
        // A stable sort keeps the given order among equal keys; keep the last of each run.
        actions.sort_by(|a, b| a.key().cmp(b.key()));
        let mut deduped: Vec<Action<'a>> = Vec::with_capacity(actions.len());
        for a in actions {
            match deduped.last_mut() {
                Some(last) if last.key() == a.key() => *last = a,
                _ => deduped.push(a),
            }
        }
        ModifyPlan { actions: deduped }
    }

    /// A plan from actions already sorted by key without repeats (checked in debug
    /// builds), so they are not sorted again.
    pub fn from_sorted(actions: Vec<Action<'a>>) -> Self {
        debug_assert!(actions.windows(2).all(|w| w[0].key() < w[1].key()));
        ModifyPlan { actions }
    }

    /// The sorted, de-duplicated actions.
    pub fn actions(&self) -> &[Action<'a>] {
        &self.actions
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

/// Everything a modification needs besides the plan.
struct Ctx<'a> {
    file: &'a mut CouchFile,
    sink: NodeSink<'a>,
    sizes: NodeSizes,
    /// Called with (key, old value) for every action that meets an existing key.
    on_existing: &'a mut ExistingEntry<'a>,
}

/// Nodes written, each with the largest key it holds.
type Written = Vec<(Vec<u8>, NodePointer)>;

/// A key or value: borrowed from the node being rewritten or from the plan when
/// unchanged, owned when new (pointers to rewritten children), so an untouched item is
/// never copied before it is written.
type Bytes<'n> = Cow<'n, [u8]>;

/// A node under construction: items accumulate, and full nodes are written out as the
/// splitting rule allows, their pointers collected in `written`.
struct NodeBuilder<'n> {
    kind: NodeKind,
    items: Vec<(Bytes<'n>, Bytes<'n>)>,
    /// Uncompressed size of a node holding `items`.
    size: usize,
    written: Written,
}

impl<'n> NodeBuilder<'n> {
    fn new(kind: NodeKind) -> Self {
        Self::with_capacity(kind, 0)
    }

    /// A builder expecting about `items` items (so they are not reallocated as they come).
    fn with_capacity(kind: NodeKind, items: usize) -> Self {
        NodeBuilder {
            kind,
            items: Vec::with_capacity(items),
            size: 1,
            written: Vec::new(),
        }
    }

    fn push(&mut self, ctx: &mut Ctx<'_>, key: Bytes<'n>, value: Bytes<'n>) -> Result<()> {
        self.size += item_size(&key, &value);
        self.items.push((key, value));
        let threshold = ctx.sizes.for_kind(self.kind);
        if self.items.len() > 3 && self.size > threshold {
            let target = threshold * 2 / 3;
            let min_items = if self.kind == NodeKind::Interior {
                2
            } else {
                1
            };
            let mut taken = 0;
            let mut size = 1;
            while taken < self.items.len() && (size < target || taken < min_items) {
                let (k, v) = &self.items[taken];
                size += item_size(k, v);
                taken += 1;
            }
            self.write(ctx, taken)?;
            self.size -= size - 1;
        }
        Ok(())
    }

    fn push_pointer(&mut self, ctx: &mut Ctx<'_>, key: Vec<u8>, ptr: &NodePointer) -> Result<()> {
        self.push(ctx, Cow::Owned(key), Cow::Owned(pointer_value(ptr)?))
    }

    /// Writes the first `n` items as a node.
    fn write(&mut self, ctx: &mut Ctx<'_>, n: usize) -> Result<()> {
        let ptr = ctx.sink.write(ctx.file, self.kind, &self.items[..n])?;
        let last_key = self.items[..n]
            .last()
            .map(|(k, _)| k.to_vec())
            .unwrap_or_default();
        self.items.drain(..n);
        self.written.push((last_key, ptr));
        Ok(())
    }

    /// Writes what is left and returns every node written, in key order.
    fn finish(mut self, ctx: &mut Ctx<'_>) -> Result<Written> {
        if !self.items.is_empty() {
            let n = self.items.len();
            self.write(ctx, n)?;
        }
        Ok(self.written)
    }
}

/// Applies `plan` to the tree at `root` and returns the new root (None: empty tree).
/// `on_existing(key, old_value)` is called for every action whose key was present.
pub fn modify(
    file: &mut CouchFile,
    root: Option<&NodePointer>,
    plan: &ModifyPlan<'_>,
    reducer: &dyn Reducer,
    sizes: NodeSizes,
    on_existing: &mut ExistingEntry<'_>,
) -> Result<Option<NodePointer>> {
    if plan.is_empty() {
        return Ok(root.cloned());
    }
    let mut ctx = Ctx {
        file,
        sink: NodeSink::new(reducer),
        sizes,
        on_existing,
    };
    // A virtual parent above the root collects what the root turns into.
    let mut top = NodeBuilder::new(NodeKind::Interior);
    match root {
        Some(root) => modify_subtree(&mut ctx, root.pos, plan.actions(), &mut top)?,
        None => {
            let mut leaf = NodeBuilder::new(NodeKind::Leaf);
            merge_leaf(&mut ctx, &mut leaf, std::iter::empty(), plan.actions())?;
            for (key, ptr) in leaf.finish(&mut ctx)? {
                top.push_pointer(&mut ctx, key, &ptr)?;
            }
        }
    }
    let mut level = if top.written.is_empty() {
        top.items
            .into_iter()
            .map(|(k, v)| Ok((k.into_owned(), NodePointer::decode_interior(&v)?)))
            .collect::<Result<Vec<_>>>()?
    } else {
        top.finish(&mut ctx)?
    };
    // Grow: build interior levels until one node remains.
    while level.len() > 1 {
        let mut parent = NodeBuilder::new(NodeKind::Interior);
        for (key, ptr) in &level {
            parent.push_pointer(&mut ctx, key.clone(), ptr)?;
        }
        level = parent.finish(&mut ctx)?;
    }
    let Some((_, mut new_root)) = level.pop() else {
        return Ok(None);
    };
    // Shrink: an interior root with one child is replaced by that child.
    loop {
        let node = read_node(ctx.file, new_root.pos, ctx.file.end())?;
        if node.kind() != NodeKind::Interior {
            break;
        }
        let mut items = node.items();
        let (Some(first), None) = (items.next(), items.next()) else {
            break;
        };
        new_root = NodePointer::decode_interior(first?.1)?;
    }
    Ok(Some(new_root))
}

/// Rewrites the subtree at `pos` with `actions` (all of which fall in it), pushing the
/// pointers of the resulting nodes into `parent`.
fn modify_subtree(
    ctx: &mut Ctx<'_>,
    pos: u64,
    actions: &[Action<'_>],
    parent: &mut NodeBuilder<'_>,
) -> Result<()> {
    let node = read_node(ctx.file, pos, ctx.file.end())?;
    let items = node.item_vec()?;
    // Room for the items plus what the actions add (bounded: an interior node gains
    // only the pointers of split children).
    let mut builder = NodeBuilder::with_capacity(node.kind(), items.len() + actions.len().min(64));
    match node.kind() {
        NodeKind::Leaf => {
            let items = items
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), Cow::Borrowed(v)));
            merge_leaf(ctx, &mut builder, items, actions)?;
        }
        NodeKind::Interior => {
            if items.is_empty() {
                return Err(Error::Corrupt);
            }
            let mut rest = actions;
            let last = items.len() - 1;
            for (i, (key, value)) in items.into_iter().enumerate() {
                // Actions up to this child's largest key go to it; the last child also
                // takes every action beyond.
                let n = if i == last {
                    rest.len()
                } else {
                    rest.partition_point(|a| a.key() <= key)
                };
                let (mine, later) = rest.split_at(n);
                rest = later;
                if mine.is_empty() {
                    builder.push(ctx, Cow::Borrowed(key), Cow::Borrowed(value))?;
                } else {
                    let child = InteriorPointer::parse(value)?;
                    if child.pos >= node.pos {
                        return Err(Error::Corrupt);
                    }
                    modify_subtree(ctx, child.pos, mine, &mut builder)?;
                }
            }
        }
    }
    for (key, ptr) in builder.finish(ctx)? {
        parent.push_pointer(ctx, key, &ptr)?;
    }
    Ok(())
}

/// Merges a leaf's existing items with the actions into `builder`.
fn merge_leaf<'n>(
    ctx: &mut Ctx<'_>,
    builder: &mut NodeBuilder<'n>,
    items: impl Iterator<Item = (Bytes<'n>, Bytes<'n>)>,
    actions: &'n [Action<'_>],
) -> Result<()> {
    let mut items = items.peekable();
    let mut actions = actions.iter().peekable();
    loop {
        let order = match (items.peek(), actions.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((k, _)), Some(a)) => k.as_ref().cmp(a.key()),
        };
        match order {
            Ordering::Less => {
                let (k, v) = items.next().expect("peeked");
                builder.push(ctx, k, v)?;
            }
            Ordering::Greater => apply(ctx, builder, actions.next().expect("peeked"))?,
            Ordering::Equal => {
                let (k, old) = items.next().expect("peeked");
                (ctx.on_existing)(&k, &old)?;
                apply(ctx, builder, actions.next().expect("peeked"))?;
            }
        }
    }
}

fn apply<'n>(
    ctx: &mut Ctx<'_>,
    builder: &mut NodeBuilder<'n>,
    action: &'n Action<'_>,
) -> Result<()> {
    match action {
        Action::Insert(k, v) => builder.push(ctx, Cow::Borrowed(k), Cow::Borrowed(v)),
        Action::Remove(_) => Ok(()),
    }
}
