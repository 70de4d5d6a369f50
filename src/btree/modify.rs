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
//!
//! The descent keeps an explicit stack of the interior nodes on the way, each with the
//! node it is rewriting into, and reads through [`Descent`]'s rules; nothing recurses
//! over the tree's levels.

use std::borrow::Cow;
use std::cmp::Ordering;

use super::ExistingEntry;
use super::descent::Descent;
use super::node::{Node, NodeSizes};
use super::node_sink::{NodeSink, item_size, pointer_value};
use super::reduce::Reducer;
use crate::error::{Error, Result};
use crate::file::CouchFile;
use crate::format::{NodeKind, NodePointer, NodeReader};

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

/// A key or value of a node under construction: borrowed from the plan or from a leaf
/// being rewritten, a byte range of the interior node being rewritten (which lives on
/// the descent's stack beside the builder), or owned when new (pointers to rewritten
/// children). An untouched item is never copied before it is written.
enum Piece<'n> {
    Borrowed(&'n [u8]),
    InNode(usize, usize),
    Owned(Vec<u8>),
}

impl Piece<'_> {
    fn len(&self) -> usize {
        match self {
            Piece::Borrowed(b) => b.len(),
            Piece::InNode(start, end) => end - start,
            Piece::Owned(v) => v.len(),
        }
    }

    /// The bytes, `base` being the node the builder rewrites (empty if none).
    fn get<'s>(&'s self, base: &'s [u8]) -> &'s [u8] {
        match self {
            Piece::Borrowed(b) => b,
            Piece::InNode(start, end) => &base[*start..*end],
            Piece::Owned(v) => v,
        }
    }

    /// `part`, a sub-slice of `base`, as a range of it.
    fn in_node(base: &[u8], part: &[u8]) -> Self {
        let start = part.as_ptr() as usize - base.as_ptr() as usize;
        Piece::InNode(start, start + part.len())
    }
}

/// A node under construction: items accumulate, and full nodes are written out as the
/// splitting rule allows, their pointers collected in `written`. Methods that may write
/// take `base`, the node whose items [`Piece::InNode`] refers to.
struct NodeBuilder<'n> {
    kind: NodeKind,
    items: Vec<(Piece<'n>, Piece<'n>)>,
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

    fn push(
        &mut self,
        ctx: &mut Ctx<'_>,
        base: &[u8],
        key: Piece<'n>,
        value: Piece<'n>,
    ) -> Result<()> {
        self.size += key.len() + value.len() + item_size(&[], &[]);
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
                size += k.len() + v.len() + item_size(&[], &[]);
                taken += 1;
            }
            self.write(ctx, base, taken)?;
            self.size -= size - 1;
        }
        Ok(())
    }

    fn push_pointer(
        &mut self,
        ctx: &mut Ctx<'_>,
        base: &[u8],
        key: Vec<u8>,
        ptr: &NodePointer,
    ) -> Result<()> {
        let value = Piece::Owned(pointer_value(ptr)?);
        self.push(ctx, base, Piece::Owned(key), value)
    }

    /// Writes the first `n` items as a node.
    fn write(&mut self, ctx: &mut Ctx<'_>, base: &[u8], n: usize) -> Result<()> {
        let items = self.items[..n]
            .iter()
            .map(|(k, v)| (k.get(base), v.get(base)));
        let ptr = ctx.sink.write_items(ctx.file, self.kind, items)?;
        let last_key = self.items[..n]
            .last()
            .map(|(k, _)| k.get(base).to_vec())
            .unwrap_or_default();
        self.items.drain(..n);
        self.written.push((last_key, ptr));
        Ok(())
    }

    /// Writes what is left and returns every node written, in key order.
    fn finish(mut self, ctx: &mut Ctx<'_>, base: &[u8]) -> Result<Written> {
        if !self.items.is_empty() {
            let n = self.items.len();
            self.write(ctx, base, n)?;
        }
        Ok(self.written)
    }
}

/// An interior node on the descent's path, being rewritten: where reading its items has
/// got, the actions not yet given to a child, and the node(s) it turns into.
struct Frame<'p> {
    node: Node,
    depth: usize,
    offset: usize,
    rest: &'p [Action<'p>],
    builder: NodeBuilder<'p>,
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
    let descent = Descent::of(file);
    let mut ctx = Ctx {
        file,
        sink: NodeSink::new(reducer),
        sizes,
        on_existing,
    };
    // A virtual parent above the root collects what the root turns into.
    let mut top = NodeBuilder::new(NodeKind::Interior);
    match root {
        Some(root) => {
            let below = ctx.file.end();
            let node = descent.read(ctx.file, root.pos, below, 1)?;
            let mut path = Vec::new();
            enter(&mut ctx, node, 1, plan.actions(), &mut path, &mut top, &[])?;
            descend(&mut ctx, &descent, &mut path, &mut top)?;
        }
        None => {
            let mut leaf = NodeBuilder::new(NodeKind::Leaf);
            merge_leaf(&mut ctx, &mut leaf, std::iter::empty(), plan.actions())?;
            for (key, ptr) in leaf.finish(&mut ctx, &[])? {
                top.push_pointer(&mut ctx, &[], key, &ptr)?;
            }
        }
    }
    let mut level = if top.written.is_empty() {
        top.items
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.get(&[]).to_vec(),
                    NodePointer::decode_interior(v.get(&[]))?,
                ))
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        top.finish(&mut ctx, &[])?
    };
    // Grow: build interior levels until one node remains.
    while level.len() > 1 {
        let mut parent = NodeBuilder::new(NodeKind::Interior);
        for (key, ptr) in &level {
            parent.push_pointer(&mut ctx, &[], key.clone(), ptr)?;
        }
        level = parent.finish(&mut ctx, &[])?;
    }
    let Some((_, new_root)) = level.pop() else {
        return Ok(None);
    };
    shrink(ctx.file, new_root).map(Some)
}

/// An interior root with one child is replaced by that child, level after level. The
/// child may be an untouched node of the old tree, so it is read by the same rules as
/// any descent: strictly before its parent, within the depth bound.
fn shrink(file: &CouchFile, mut root: NodePointer) -> Result<NodePointer> {
    let descent = Descent::of(file);
    let (mut below, mut depth) = (file.end(), 1);
    loop {
        let node = descent.read(file, root.pos, below, depth)?;
        if node.kind() != NodeKind::Interior {
            return Ok(root);
        }
        let mut items = node.items();
        let (Some(first), None) = (items.next(), items.next()) else {
            return Ok(root);
        };
        below = root.pos;
        root = NodePointer::decode_interior(first?.1)?;
        depth += 1;
    }
}

/// Starts rewriting `node` with `actions` (all of which fall in it): a leaf at once,
/// its nodes' pointers pushed into `parent` (whose node is `base`); an interior node
/// goes on the path.
fn enter<'p>(
    ctx: &mut Ctx<'_>,
    node: Node,
    depth: usize,
    actions: &'p [Action<'p>],
    path: &mut Vec<Frame<'p>>,
    parent: &mut NodeBuilder<'p>,
    base: &[u8],
) -> Result<()> {
    match node.kind() {
        NodeKind::Leaf => {
            // Checked whole first, so the merge below reads well-formed items only.
            let mut count = 0;
            for item in node.items() {
                item?;
                count += 1;
            }
            let mut leaf =
                NodeBuilder::with_capacity(NodeKind::Leaf, count + actions.len().min(64));
            let items = node
                .items()
                .map_while(Result::ok)
                .map(|(k, v)| (Piece::Borrowed(k), Piece::Borrowed(v)));
            merge_leaf(ctx, &mut leaf, items, actions)?;
            for (key, ptr) in leaf.finish(ctx, &[])? {
                parent.push_pointer(ctx, base, key, &ptr)?;
            }
        }
        NodeKind::Interior => {
            // Room for the items plus the pointers of split children (bounded).
            let estimate = node.bytes().len() / 24 + 4 + actions.len().min(64);
            path.push(Frame {
                node,
                depth,
                offset: 1,
                rest: actions,
                builder: NodeBuilder::with_capacity(NodeKind::Interior, estimate),
            });
        }
    }
    Ok(())
}

/// Runs the descent until the path is empty: each interior node's items in turn, an
/// untouched child kept as it is, a touched one rewritten below it; a finished node's
/// pointers go into its parent (or `top`).
fn descend<'p>(
    ctx: &mut Ctx<'_>,
    descent: &Descent,
    path: &mut Vec<Frame<'p>>,
    top: &mut NodeBuilder<'p>,
) -> Result<()> {
    while let Some(frame) = path.last_mut() {
        let bytes = frame.node.bytes();
        let mut reader = NodeReader::resume(bytes, frame.offset)?;
        let Some(item) = reader.next() else {
            let Frame { node, builder, .. } = path.pop().expect("the last frame");
            if frame_was_empty(&node) {
                return Err(Error::Corrupt);
            }
            let written = builder.finish(ctx, node.bytes())?;
            let (parent, base) = match path.last_mut() {
                Some(p) => (&mut p.builder, p.node.bytes()),
                None => (&mut *top, &[][..]),
            };
            for (key, ptr) in written {
                parent.push_pointer(ctx, base, key, &ptr)?;
            }
            continue;
        };
        let (key, value) = item?;
        frame.offset = reader.offset(bytes);
        // Actions up to this child's largest key go to it; the last child also takes
        // every action beyond.
        let n = if frame.offset == bytes.len() {
            frame.rest.len()
        } else {
            frame.rest.partition_point(|a| a.key() <= key)
        };
        let (mine, later) = frame.rest.split_at(n);
        frame.rest = later;
        if mine.is_empty() {
            let (k, v) = (Piece::in_node(bytes, key), Piece::in_node(bytes, value));
            frame.builder.push(ctx, bytes, k, v)?;
            continue;
        }
        let child = descent.child(value, frame.node.pos)?;
        let depth = frame.depth + 1;
        let node = descent.read(ctx.file, child.pos, frame.node.pos, depth)?;
        if node.kind() == NodeKind::Leaf {
            enter(
                ctx,
                node,
                depth,
                mine,
                &mut Vec::new(),
                &mut frame.builder,
                bytes,
            )?;
        } else {
            enter(ctx, node, depth, mine, path, top, &[])?;
        }
    }
    Ok(())
}

/// An interior node without items is not something a writer produces.
fn frame_was_empty(node: &Node) -> bool {
    node.bytes().len() <= 1
}

/// Merges a leaf's existing items with the actions into `builder`.
fn merge_leaf<'n>(
    ctx: &mut Ctx<'_>,
    builder: &mut NodeBuilder<'n>,
    items: impl Iterator<Item = (Piece<'n>, Piece<'n>)>,
    actions: &'n [Action<'_>],
) -> Result<()> {
    let mut items = items.peekable();
    let mut actions = actions.iter().peekable();
    loop {
        let order = match (items.peek(), actions.peek()) {
            (None, None) => return Ok(()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((k, _)), Some(a)) => k.get(&[]).cmp(a.key()),
        };
        match order {
            Ordering::Less => {
                let (k, v) = items.next().expect("peeked");
                builder.push(ctx, &[], k, v)?;
            }
            Ordering::Greater => apply(ctx, builder, actions.next().expect("peeked"))?,
            Ordering::Equal => {
                let (k, old) = items.next().expect("peeked");
                (ctx.on_existing)(k.get(&[]), old.get(&[]))?;
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
        Action::Insert(k, v) => builder.push(ctx, &[], Piece::Borrowed(k), Piece::Borrowed(v)),
        Action::Remove(_) => Ok(()),
    }
}
