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

use super::ExistingEntry;
use super::descent::{Descent, next_child};
use super::node::{Node, NodeSizes, read_node};
use super::node_sink::{NodeSink, item_size, pointer_value};
use super::prefetch::Prefetched;
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
    /// Nodes another thread read ahead for this plan.
    prefetched: Option<&'a Prefetched>,
}

/// Nodes written, each with the largest key it holds.
type Written = Vec<(Vec<u8>, NodePointer)>;

/// A key or value of a node under construction: borrowed from the plan or from a leaf
/// being rewritten, or owned when new (pointers to rewritten children). Untouched items
/// of the node being rewritten are not pieces but runs of its encoded bytes
/// ([`Entry::Run`]).
enum Piece<'n> {
    Borrowed(&'n [u8]),
    Owned(Vec<u8>),
}

impl Piece<'_> {
    fn len(&self) -> usize {
        self.bytes().len()
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Piece::Borrowed(b) => b,
            Piece::Owned(v) => v,
        }
    }
}

/// What a node under construction holds, in key order: single items, or runs of an
/// existing node's items (a leaf's untouched entries, an interior node's pointers to
/// untouched children), copied as they are encoded there: a node rewritten for a few
/// changes keeps most of its items, and a run costs a copy, not an encoding, per item.
enum Entry<'n> {
    Item(Piece<'n>, Piece<'n>),
    /// The `count` encoded items `raw[start..end]` (`raw`: a leaf's items; None: the
    /// node the builder rewrites, its `base`), the last of them at `last`.
    Run {
        raw: Option<&'n [u8]>,
        start: usize,
        end: usize,
        count: usize,
        last: usize,
    },
}

/// Whether two runs' sources are the same bytes.
fn same_bytes(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => std::ptr::eq(a, b),
        _ => false,
    }
}

/// Where to cut a builder's entries for a node: the first `entries` whole, then (if
/// `partial`) the first items of the next run, up to byte `end` of it, `count` of them.
struct Cut {
    entries: usize,
    partial: Option<(usize, usize)>,
    /// Uncompressed size of the node (kind byte included).
    size: usize,
    /// Items in the node.
    items: usize,
    last_key: Vec<u8>,
}

/// A node under construction: items accumulate, and full nodes are written out as the
/// splitting rule allows, their pointers collected in `written`. Methods that may write
/// take `base`, the node a run without bytes of its own ([`Entry::Run`]) refers to.
struct NodeBuilder<'n> {
    kind: NodeKind,
    entries: Vec<Entry<'n>>,
    /// Items in `entries`.
    count: usize,
    /// Uncompressed size of a node holding `entries`.
    size: usize,
    written: Written,
}

impl<'n> NodeBuilder<'n> {
    fn new(kind: NodeKind) -> Self {
        Self::with_capacity(kind, 0)
    }

    /// A builder expecting about `entries` entries (so they are not reallocated as
    /// they come).
    fn with_capacity(kind: NodeKind, entries: usize) -> Self {
        NodeBuilder {
            kind,
            entries: Vec::with_capacity(entries),
            count: 0,
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
        self.count += 1;
        self.entries.push(Entry::Item(key, value));
        self.split_if_full(ctx, base)
    }

    /// Adds the item encoded at `raw[start..end]` (`raw`: a leaf's items; None: `base`,
    /// the node the builder rewrites), joining the run it follows.
    fn push_encoded(
        &mut self,
        ctx: &mut Ctx<'_>,
        base: &[u8],
        raw: Option<&'n [u8]>,
        start: usize,
        end: usize,
    ) -> Result<()> {
        self.join_run(raw, start, end, 1, start);
        self.split_if_full(ctx, base)
    }

    /// Adds the `count` items encoded at `raw[start..end]`, the last at `last` (`raw`
    /// as for [`NodeBuilder::push_encoded`]): at once when they fit under the threshold
    /// (no split can fall among them), item by item otherwise.
    fn push_run(
        &mut self,
        ctx: &mut Ctx<'_>,
        base: &[u8],
        raw: Option<&'n [u8]>,
        run: RunSpan,
    ) -> Result<()> {
        if run.count == 0 {
            return Ok(());
        }
        if self.size + (run.end - run.start) <= ctx.sizes.for_kind(self.kind) {
            self.join_run(raw, run.start, run.end, run.count, run.last);
            return Ok(());
        }
        let bytes = raw.unwrap_or(base);
        let mut reader = NodeReader::encoded_items(self.kind, &bytes[run.start..run.end]);
        let mut at = run.start;
        while at < run.end {
            let (k, v) = reader.next().ok_or(Error::Corrupt)??;
            let next = at + item_size(k, v);
            self.push_encoded(ctx, base, raw, at, next)?;
            at = next;
        }
        Ok(())
    }

    /// Appends encoded items to the entries, extending the last run when they follow it.
    fn join_run(
        &mut self,
        raw: Option<&'n [u8]>,
        start: usize,
        end: usize,
        items: usize,
        last_item: usize,
    ) {
        self.size += end - start;
        self.count += items;
        match self.entries.last_mut() {
            Some(Entry::Run {
                raw: r,
                end: e,
                count,
                last,
                ..
            }) if same_bytes(*r, raw) && *e == start => {
                *e = end;
                *count += items;
                *last = last_item;
            }
            _ => self.entries.push(Entry::Run {
                raw,
                start,
                end,
                count: items,
                last: last_item,
            }),
        }
    }

    /// The splitting rule: once a node holds more than 3 items and exceeds the
    /// threshold, items are taken from the front until 2/3 of it is reached (an
    /// interior node takes at least 2) and written as a node.
    fn split_if_full(&mut self, ctx: &mut Ctx<'_>, base: &[u8]) -> Result<()> {
        let threshold = ctx.sizes.for_kind(self.kind);
        if self.count > 3 && self.size > threshold {
            let target = threshold * 2 / 3;
            let min_items = if self.kind == NodeKind::Interior {
                2
            } else {
                1
            };
            let cut = self.cut(base, |size, taken| size < target || taken < min_items)?;
            self.write(ctx, base, cut)?;
        }
        Ok(())
    }

    /// Walks the items from the front while `more(size so far, items so far)` says so.
    fn cut(&self, base: &[u8], more: impl Fn(usize, usize) -> bool) -> Result<Cut> {
        let (mut size, mut taken) = (1, 0);
        let mut last_key: &[u8] = &[];
        for (i, entry) in self.entries.iter().enumerate() {
            match entry {
                Entry::Item(k, v) => {
                    if !more(size, taken) {
                        return Ok(Cut {
                            entries: i,
                            partial: None,
                            size,
                            items: taken,
                            last_key: last_key.to_vec(),
                        });
                    }
                    size += k.len() + v.len() + item_size(&[], &[]);
                    taken += 1;
                    last_key = k.bytes();
                }
                Entry::Run {
                    raw, start, end, ..
                } => {
                    let mut at = *start;
                    let bytes = raw.unwrap_or(base);
                    let mut reader = NodeReader::encoded_items(self.kind, &bytes[at..*end]);
                    let mut in_run = 0;
                    while at < *end {
                        if !more(size, taken) {
                            let partial = (in_run > 0).then_some((at, in_run));
                            return Ok(Cut {
                                entries: i,
                                partial,
                                size,
                                items: taken,
                                last_key: last_key.to_vec(),
                            });
                        }
                        let (k, v) = reader.next().ok_or(Error::Corrupt)??;
                        let len = k.len() + v.len() + item_size(&[], &[]);
                        size += len;
                        at += len;
                        taken += 1;
                        in_run += 1;
                        last_key = k;
                    }
                }
            }
        }
        Ok(Cut {
            entries: self.entries.len(),
            partial: None,
            size,
            items: taken,
            last_key: last_key.to_vec(),
        })
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

    /// Writes the items before `cut` as a node, and keeps the rest.
    fn write(&mut self, ctx: &mut Ctx<'_>, base: &[u8], cut: Cut) -> Result<()> {
        let (whole, partial) = (&self.entries[..cut.entries], cut.partial);
        let next = self.entries.get(cut.entries);
        let ptr = ctx.sink.write_node(ctx.file, self.kind, |w| {
            for entry in whole {
                match entry {
                    Entry::Item(k, v) => w.push(k.bytes(), v.bytes())?,
                    Entry::Run {
                        raw,
                        start,
                        end,
                        count,
                        ..
                    } => w.push_encoded(&raw.unwrap_or(base)[*start..*end], *count),
                }
            }
            if let (Some((at, count)), Some(Entry::Run { raw, start, .. })) = (partial, next) {
                w.push_encoded(&raw.unwrap_or(base)[*start..at], count);
            }
            Ok(())
        })?;
        self.entries.drain(..cut.entries);
        if let (Some((at, taken)), Some(Entry::Run { start, count, .. })) =
            (partial, self.entries.first_mut())
        {
            *start = at;
            *count -= taken;
        }
        self.size -= cut.size - 1;
        self.count -= cut.items;
        self.written.push((cut.last_key, ptr));
        Ok(())
    }

    /// Writes what is left and returns every node written, in key order.
    fn finish(mut self, ctx: &mut Ctx<'_>, base: &[u8]) -> Result<Written> {
        if self.count > 0 {
            let cut = self.cut_all(base)?;
            self.write(ctx, base, cut)?;
        }
        Ok(self.written)
    }

    /// The cut that takes every entry: what [`NodeBuilder::cut`] would find, from the
    /// running totals and the last item alone.
    fn cut_all(&self, base: &[u8]) -> Result<Cut> {
        let last_key = match self.entries.last() {
            None => Vec::new(),
            Some(Entry::Item(k, _)) => k.bytes().to_vec(),
            Some(Entry::Run { raw, end, last, .. }) => {
                let bytes = raw.unwrap_or(base);
                let mut reader = NodeReader::encoded_items(self.kind, &bytes[*last..*end]);
                reader.next().ok_or(Error::Corrupt)??.0.to_vec()
            }
        };
        Ok(Cut {
            entries: self.entries.len(),
            partial: None,
            size: self.size,
            items: self.count,
            last_key,
        })
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
    modify_with(file, root, plan, reducer, sizes, on_existing, None)
}

/// [`modify`], taking the nodes it reads from `prefetched` where another thread read
/// them ahead (see [`super::prefetch`]).
pub fn modify_with(
    file: &mut CouchFile,
    root: Option<&NodePointer>,
    plan: &ModifyPlan<'_>,
    reducer: &dyn Reducer,
    sizes: NodeSizes,
    on_existing: &mut ExistingEntry<'_>,
    prefetched: Option<&Prefetched>,
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
        prefetched,
    };
    // A virtual parent above the root collects what the root turns into.
    let mut top = NodeBuilder::new(NodeKind::Interior);
    match root {
        Some(root) => {
            let below = ctx.file.end();
            let node = read_via(
                &descent,
                ctx.file,
                ctx.prefetched,
                (root.pos, root.subtree_size),
                below,
                1,
            )?;
            let mut path = Vec::new();
            enter(&mut ctx, node, 1, plan.actions(), &mut path, &mut top, &[])?;
            descend(&mut ctx, &descent, &mut path, &mut top)?;
        }
        None => {
            let mut leaf = NodeBuilder::new(NodeKind::Leaf);
            merge_leaf(&mut ctx, &mut leaf, &[], plan.actions())?;
            for (key, ptr) in leaf.finish(&mut ctx, &[])? {
                top.push_pointer(&mut ctx, &[], key, &ptr)?;
            }
        }
    }
    let mut level = if top.written.is_empty() {
        // The pointers the root turned into, each pushed as one item.
        top.entries
            .iter()
            .map(|entry| match entry {
                Entry::Item(k, v) => {
                    Ok((k.bytes().to_vec(), NodePointer::decode_interior(v.bytes())?))
                }
                Entry::Run { .. } => Err(Error::Corrupt),
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
        let node = descent.read(file, root.pos, root.subtree_size, below, depth)?;
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
            let mut leaf =
                NodeBuilder::with_capacity(NodeKind::Leaf, 2 * actions.len().min(64) + 2);
            merge_leaf(ctx, &mut leaf, &node.bytes()[1..], actions)?;
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
        let Some(child) = next_child(bytes, &mut frame.offset, &mut frame.rest, Action::key)?
        else {
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
        let (item_start, value, mine) = (child.start, child.value, child.keys);
        if mine.is_empty() {
            // An untouched child: its item is copied as encoded in this node.
            let end = frame.offset;
            frame
                .builder
                .push_encoded(ctx, bytes, None, item_start, end)?;
            continue;
        }
        let child = descent.child(value, frame.node.pos)?;
        let depth = frame.depth + 1;
        let node = read_via(
            descent,
            ctx.file,
            ctx.prefetched,
            (child.pos, child.subtree_size),
            frame.node.pos,
            depth,
        )?;
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

/// Reads the node at `pos` (of subtree size `size`) by the descent's rules, taken from
/// `prefetched` when the prefetcher has read it.
fn read_via(
    descent: &Descent,
    file: &CouchFile,
    prefetched: Option<&Prefetched>,
    (pos, size): (u64, u64),
    below: u64,
    depth: usize,
) -> Result<Node> {
    descent.check(pos, below, depth)?;
    match prefetched.and_then(|p| p.take(pos)) {
        Some(node) => Ok(node),
        None => read_node(file, pos, size, below),
    }
}

/// An interior node without items is not something a writer produces.
fn frame_was_empty(node: &Node) -> bool {
    node.bytes().len() <= 1
}

/// Merges a leaf's existing items (`raw`: as encoded in the leaf, after its kind byte)
/// with the actions into `builder`: the items no action touches go in as runs of `raw`.
fn merge_leaf<'n>(
    ctx: &mut Ctx<'_>,
    builder: &mut NodeBuilder<'n>,
    raw: &'n [u8],
    actions: &'n [Action<'_>],
) -> Result<()> {
    let mut actions = actions.iter().peekable();
    let mut reader = NodeReader::encoded_items(NodeKind::Leaf, raw);
    // The untouched items since the last action, pushed as one run when the next
    // action (or the end) is met.
    let mut run = RunSpan::default();
    let mut end = 0;
    while let Some(item) = reader.next() {
        let (key, old) = item?;
        let start = end;
        end = reader.offset(raw);
        if actions.peek().is_none_or(|a| a.key() > key) {
            run.add(start, end);
            continue;
        }
        builder.push_run(ctx, &[], Some(raw), run)?;
        run = RunSpan::at(end);
        while let Some(action) = actions.next_if(|a| a.key() < key) {
            apply(ctx, builder, action)?;
        }
        match actions.next_if(|a| a.key() == key) {
            Some(action) => {
                (ctx.on_existing)(key, old)?;
                apply(ctx, builder, action)?;
            }
            None => run = RunSpan::at(start).with(start, end),
        }
    }
    builder.push_run(ctx, &[], Some(raw), run)?;
    for action in actions {
        apply(ctx, builder, action)?;
    }
    Ok(())
}

/// Consecutive encoded items of a node: `start..end`, `count` of them, the last at
/// `last`.
#[derive(Debug, Clone, Copy, Default)]
struct RunSpan {
    start: usize,
    end: usize,
    count: usize,
    last: usize,
}

impl RunSpan {
    /// An empty run starting at `at`.
    fn at(at: usize) -> Self {
        RunSpan {
            start: at,
            end: at,
            count: 0,
            last: at,
        }
    }

    /// The run with the item `start..end` (which follows it) added.
    fn with(mut self, start: usize, end: usize) -> Self {
        self.add(start, end);
        self
    }

    fn add(&mut self, start: usize, end: usize) {
        debug_assert_eq!(start, self.end);
        self.end = end;
        self.count += 1;
        self.last = start;
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
