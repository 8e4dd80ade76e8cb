//! Flat binary decision trees: the arrays a model file carries (scikit-learn's
//! `tree_` layout: `left`, `right`, `feature`, `threshold`, a leaf is
//! `left == right == -1`), validated once and compiled into a form whose walk
//! can neither panic nor loop.
//!
//! Validation guarantees: every child index lies after its parent and inside
//! the tree, every node but the root has exactly one parent, split features
//! are in range, thresholds are finite and no leaf is deeper than
//! [`MAX_DEPTH`]. Compiled leaves point to themselves, so a walk is a fixed
//! number of branch-free steps (the tree's depth) with no leaf test: fast, and
//! it terminates by construction.

use std::collections::btree_map::{BTreeMap, Entry};
use std::ops::ControlFlow;

/// Deepest leaf a tree may have (edges from the root).
pub const MAX_DEPTH: usize = 64;
/// Most trees a model may have.
pub const MAX_TREES: usize = 1024;
/// Most nodes one tree may have.
pub const MAX_TREE_NODES: usize = 1 << 17;
/// Most nodes all trees of one model may have together: compiled, 8 bytes
/// each, plus up to 56 per distinct leaf value its model keeps and 4 per
/// split for its sorted split thresholds (and, while the model loads, an
/// index of its distinct leaf values: a key of up to 56 bytes and a `u32`
/// each, in a B-tree).
pub const MAX_TOTAL_NODES: usize = 1 << 20;
/// Most features a model may split on.
pub const MAX_FEATURES: usize = 64;

/// What is wrong with one tree of a model file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeProblem {
    /// The tree has no nodes.
    #[error("has no nodes")]
    Empty,
    /// The tree, or the model's trees together, have too many nodes.
    #[error("has {nodes} nodes, more than the limit of {max}")]
    TooManyNodes {
        /// Nodes found (for the model: counted so far).
        nodes: usize,
        /// The limit.
        max: usize,
    },
    /// A per-node array does not have one entry per node.
    #[error("`{field}` has {len} entries, `left` has {expected}")]
    Length {
        /// The array.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The length of `left`.
        expected: usize,
    },
    /// One child is -1 (leaf) and the other is not.
    #[error("is a leaf on one side only (left {left}, right {right})")]
    HalfLeaf {
        /// `left` of the node.
        left: i64,
        /// `right` of the node.
        right: i64,
    },
    /// A child index is negative or past the last node.
    #[error("child {child} is out of range (the tree has {nodes} nodes)")]
    ChildOutOfRange {
        /// The child index.
        child: i64,
        /// Nodes in the tree.
        nodes: usize,
    },
    /// A child index is not greater than its parent's.
    #[error("child {child} does not come after its parent")]
    ChildNotAfterParent {
        /// The child index.
        child: i64,
    },
    /// A node is the child of two nodes (or both children of one).
    #[error("child {child} already has a parent")]
    TwoParents {
        /// The child index.
        child: i64,
    },
    /// A node other than the root is no node's child.
    #[error("is not reachable from the root")]
    Unreachable,
    /// A split uses a feature the model does not have.
    #[error("splits on feature {feature}, but the model has {n_features} features")]
    Feature {
        /// The feature index.
        feature: i64,
        /// Number of features of the model.
        n_features: usize,
    },
    /// A split threshold is NaN or infinite.
    #[error("threshold {threshold} is not finite")]
    Threshold {
        /// The threshold.
        threshold: f64,
    },
    /// A node lies deeper than [`MAX_DEPTH`].
    #[error("lies at depth {depth}, deeper than the limit of {max}")]
    TooDeep {
        /// Its depth (edges from the root).
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// An isolation-forest leaf has `n_samples` 0.
    #[error("leaf has n_samples 0 (must be at least 1)")]
    NoSamples,
    /// A classifier node's `value` does not have one entry per class.
    #[error("`value` has {len} entries, the model has {n_classes} classes")]
    ValueLength {
        /// Entries found.
        len: usize,
        /// Number of classes.
        n_classes: usize,
    },
    /// A classifier leaf's class fractions are not finite, non-negative and
    /// summing to 1.
    #[error("leaf class fractions must be finite, non-negative and sum to 1 (sum {sum})")]
    Fractions {
        /// Their sum.
        sum: f64,
    },
}

/// What a model keeps at its leaves, each distinct value once: many leaves
/// carry the same value (a pure class, a path length and its credits), and
/// the fewer distinct values walks read, the more of them stay in cache.
/// The index exists only while a model loads; it is ordered, not hashed, so
/// loading needs no random seed (a `.wasm` asks its host for none).
#[derive(Debug, Clone)]
pub(crate) struct Payloads<K, T> {
    index: BTreeMap<K, u32>,
    values: Vec<T>,
}

impl<K: Ord, T> Default for Payloads<K, T> {
    fn default() -> Self {
        Payloads {
            index: BTreeMap::new(),
            values: Vec::new(),
        }
    }
}

impl<K: Ord, T> Payloads<K, T> {
    /// The payload index of `value`, whose identity is `key` (equal keys
    /// must mean equal values): the index an equal value got before, or a
    /// new one.
    pub fn intern(&mut self, key: K, value: T) -> u32 {
        match self.index.entry(key) {
            Entry::Occupied(at) => *at.get(),
            Entry::Vacant(slot) => {
                let next = idx(self.values.len());
                self.values.push(value);
                *slot.insert(next)
            }
        }
    }

    /// The distinct values, by payload index.
    pub fn into_values(self) -> Vec<T> {
        self.values
    }
}

/// The arrays of one tree, as read from a model file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeArrays<'a> {
    /// Left child per node, -1 at leaves.
    pub left: &'a [i32],
    /// Right child per node, -1 at leaves.
    pub right: &'a [i32],
    /// Split feature per node (ignored at leaves).
    pub feature: &'a [i32],
    /// Split threshold per node (ignored at leaves): `x <= threshold` goes left.
    pub threshold: &'a [f64],
}

/// Trees walked side by side, so their independent walks overlap in the CPU.
const LANES: usize = 16;
/// Bits of [`Node::link`] holding the child index (the rest: the feature).
const CHILD_BITS: u32 = 26;
const CHILD_MASK: u32 = (1 << CHILD_BITS) - 1;
const _: () =
    assert!(MAX_TOTAL_NODES <= CHILD_MASK as usize && MAX_FEATURES == 1 << (32 - CHILD_BITS));

/// A leaf's threshold: a quiet NaN whose low bits hold the leaf's payload
/// index. No value is greater than NaN, so a walk at a leaf stays there.
const LEAF_NAN: u32 = 0x7fc0_0000;
const PAYLOAD_MASK: u32 = (1 << 22) - 1;
// Payload indices never exceed the leaves, nor the leaves the nodes; the
// payload bits leave the quiet bit alone, so every leaf threshold is a NaN.
const _: () = assert!(MAX_TOTAL_NODES <= PAYLOAD_MASK as usize + 1);
const _: () = assert!(LEAF_NAN & PAYLOAD_MASK == 0);
const _: () = assert!(f32::from_bits(LEAF_NAN | PAYLOAD_MASK).is_nan());
const _: () = assert!(f32::from_bits(LEAF_NAN).is_nan());

/// A compiled node: 8 bytes. Children are adjacent (`child` goes left,
/// `child + 1` right). A leaf's child is itself and its threshold a NaN
/// carrying its payload index ([`LEAF_NAN`]), so a walk that reaches it stays
/// there and the leaf it ends at names its payload.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The largest `f32` not above the file's `f64` threshold: for an `f32`
    /// input `v`, `v <= t64` exactly when `v <= t32`, so comparing in `f32` is
    /// exact (scikit-learn compares its `float32` X against `float64`
    /// thresholds). At a leaf, `LEAF_NAN | payload`.
    threshold: f32,
    /// `child | feature << CHILD_BITS` (at a leaf, its own index).
    link: u32,
}

/// Nodes are equal when their bits are: leaves' thresholds are NaNs.
impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        self.threshold.to_bits() == other.threshold.to_bits() && self.link == other.link
    }
}

impl Node {
    #[inline(always)]
    fn child(self) -> u32 {
        self.link & CHILD_MASK
    }

    /// The payload index a leaf carries (meaningless at a split).
    #[inline(always)]
    fn payload(self) -> u32 {
        self.threshold.to_bits() & PAYLOAD_MASK
    }

    #[inline(always)]
    fn feature(self) -> usize {
        (self.link >> CHILD_BITS) as usize
    }

    /// The node `v` moves to. NaN was mapped to +inf by [`cast`], so it goes
    /// right at every split; every value stays at leaves.
    #[inline(always)]
    fn next(self, x: &Cast) -> u32 {
        let v = x.get(self.feature()).copied().unwrap_or(0.0);
        self.child() + u32::from(v > self.threshold)
    }
}

/// Up to [`LANES`] trees walked together for as many steps as the deepest needs.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Group {
    /// Root of each lane (unused lanes repeat the first root).
    roots: [u32; LANES],
    /// Lanes in use.
    len: usize,
    /// Depth of the deepest leaf among the group's trees.
    steps: u32,
}

/// The split thresholds of a set of trees, per feature, as the walk compares
/// them, sorted without repeats. They cut the feature space into cells: two
/// vectors whose every feature has as many of its feature's cuts below it
/// take the same branch at every split, so they reach the same leaf in every
/// tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Cuts {
    /// Every feature's cuts, feature after feature.
    cuts: Vec<f32>,
    /// Per feature, where its cuts end in `cuts`.
    ends: Vec<u32>,
}

impl Cuts {
    /// The cell `x` lies in: per feature, how many of its cuts lie below the
    /// value (the splits at which it goes right); 0 past the features. `None`
    /// when the trees have more features than `N`.
    pub fn cell<const N: usize>(&self, x: &Cast) -> Option<[u32; N]> {
        if self.ends.len() > N {
            return None;
        }
        let mut cell = [0; N];
        let mut start = 0;
        for ((c, end), v) in cell.iter_mut().zip(&self.ends).zip(x) {
            let cuts = self.cuts.get(start..*end as usize).unwrap_or(&[]);
            // A walk goes right at `t` exactly when `v > t`.
            *c = idx(cuts.partition_point(|t| t < v));
            start = *end as usize;
        }
        Some(cell)
    }
}

/// Validated trees, all nodes in one array.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Trees {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    groups: Vec<Group>,
}

/// The feature vector as the trees compare it: each value cast to `f32`
/// (scikit-learn validates `X` to `float32`), NaN as +inf, missing values 0.
pub(crate) type Cast = [f32; MAX_FEATURES];

/// Casts `x` like scikit-learn does before walking its trees.
#[inline]
pub(crate) fn cast(x: &[f64]) -> Cast {
    let mut out = [0.0; MAX_FEATURES];
    for (o, v) in out.iter_mut().zip(x) {
        // Round to the nearest f32 (ties to even), like numpy's astype.
        let f = *v as f32;
        *o = if f.is_nan() { f32::INFINITY } else { f };
    }
    out
}

/// The largest `f32` that is `<= t` (`t` finite).
fn floor_f32(t: f64) -> f32 {
    let f = t as f32;
    if f64::from(f) <= t {
        return f;
    }
    // One step down (f is not NaN, and not -inf since it rounded from above t).
    if f == 0.0 {
        -f32::from_bits(1)
    } else if f > 0.0 {
        f32::from_bits(f.to_bits() - 1)
    } else {
        f32::from_bits(f.to_bits() + 1)
    }
}

fn idx(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// One node of a file tree after validation, before layout.
#[derive(Clone, Copy)]
enum Checked {
    Leaf {
        payload: u32,
    },
    Split {
        feature: u32,
        threshold: f64,
        left: usize,
        right: usize,
    },
}

impl Trees {
    /// Number of trees.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// Validates one tree and appends it. `leaf(node, depth)` is called for each
    /// leaf in index order and returns its payload index (or why the leaf is
    /// invalid). Errors carry the offending node (as numbered in the file), if one.
    pub fn push(
        &mut self,
        tree: TreeArrays<'_>,
        n_features: usize,
        mut leaf: impl FnMut(usize, usize) -> Result<u32, TreeProblem>,
    ) -> Result<(), (Option<usize>, TreeProblem)> {
        let n = tree.left.len();
        if n == 0 {
            return Err((None, TreeProblem::Empty));
        }
        if n > MAX_TREE_NODES {
            return Err((
                None,
                TreeProblem::TooManyNodes {
                    nodes: n,
                    max: MAX_TREE_NODES,
                },
            ));
        }
        let total = self.nodes.len().saturating_add(n);
        if total > MAX_TOTAL_NODES {
            return Err((
                None,
                TreeProblem::TooManyNodes {
                    nodes: total,
                    max: MAX_TOTAL_NODES,
                },
            ));
        }
        for (field, len) in [
            ("right", tree.right.len()),
            ("feature", tree.feature.len()),
            ("threshold", tree.threshold.len()),
        ] {
            if len != n {
                return Err((
                    None,
                    TreeProblem::Length {
                        field,
                        len,
                        expected: n,
                    },
                ));
            }
        }
        // Depth of each node (edges from the root); None until a parent names it.
        let mut depth: Vec<Option<usize>> = vec![None; n];
        if let Some(d) = depth.first_mut() {
            *d = Some(0);
        }
        let mut checked = Vec::with_capacity(n);
        let mut steps = 0;
        let nodes = tree
            .left
            .iter()
            .zip(tree.right)
            .zip(tree.feature)
            .zip(tree.threshold);
        for (i, (((&l, &r), &f), &t)) in nodes.enumerate() {
            let at = |p: TreeProblem| (Some(i), p);
            let d = depth
                .get(i)
                .copied()
                .flatten()
                .ok_or(at(TreeProblem::Unreachable))?;
            if l == -1 && r == -1 {
                let payload = leaf(i, d).map_err(at)?;
                if payload > PAYLOAD_MASK {
                    // Unreachable for payloads that index leaves (see
                    // `PAYLOAD_MASK`), and rejected rather than cut; the
                    // count reported is the payloads the index implies.
                    return Err(at(TreeProblem::TooManyNodes {
                        nodes: payload as usize + 1,
                        max: PAYLOAD_MASK as usize + 1,
                    }));
                }
                steps = steps.max(d);
                checked.push(Checked::Leaf { payload });
                continue;
            }
            if l == -1 || r == -1 {
                return Err(at(TreeProblem::HalfLeaf {
                    left: l.into(),
                    right: r.into(),
                }));
            }
            let mut children = [0usize; 2];
            for (slot, c) in children.iter_mut().zip([l, r]) {
                let child = i64::from(c);
                let ci = usize::try_from(c)
                    .ok()
                    .filter(|ci| *ci < n)
                    .ok_or(at(TreeProblem::ChildOutOfRange { child, nodes: n }))?;
                if ci <= i {
                    return Err(at(TreeProblem::ChildNotAfterParent { child }));
                }
                let cd = depth
                    .get_mut(ci)
                    .ok_or(at(TreeProblem::ChildOutOfRange { child, nodes: n }))?;
                if cd.is_some() {
                    return Err(at(TreeProblem::TwoParents { child }));
                }
                if d + 1 > MAX_DEPTH {
                    return Err((
                        Some(ci),
                        TreeProblem::TooDeep {
                            depth: d + 1,
                            max: MAX_DEPTH,
                        },
                    ));
                }
                *cd = Some(d + 1);
                *slot = ci;
            }
            let feature = usize::try_from(f)
                .ok()
                .filter(|f| *f < n_features && *f < MAX_FEATURES)
                .ok_or(at(TreeProblem::Feature {
                    feature: f.into(),
                    n_features,
                }))?;
            if !t.is_finite() {
                return Err(at(TreeProblem::Threshold { threshold: t }));
            }
            let [left, right] = children;
            checked.push(Checked::Split {
                feature: idx(feature),
                threshold: t,
                left,
                right,
            });
        }
        self.lay_out(&checked, steps);
        Ok(())
    }

    /// Appends a validated tree with each node's children in adjacent slots.
    /// Parents precede children in `checked`, so one pass assigns every slot.
    fn lay_out(&mut self, checked: &[Checked], steps: usize) {
        let base = self.nodes.len();
        let n = checked.len();
        let mut slot = vec![0usize; n];
        let mut next = 1;
        for node in checked {
            if let Checked::Split { left, right, .. } = *node {
                if let Some(s) = slot.get_mut(left) {
                    *s = next;
                }
                if let Some(s) = slot.get_mut(right) {
                    *s = next + 1;
                }
                next += 2;
            }
        }
        let leaf = Node {
            threshold: f32::from_bits(LEAF_NAN),
            link: 0,
        };
        self.nodes.resize(base + n, leaf);
        for (node, s) in checked.iter().zip(&slot) {
            let at = base + s;
            let compiled = match *node {
                Checked::Leaf { payload } => Node {
                    threshold: f32::from_bits(LEAF_NAN | payload),
                    link: idx(at),
                },
                Checked::Split {
                    feature,
                    threshold,
                    left,
                    ..
                } => {
                    let child = base + slot.get(left).copied().unwrap_or(0);
                    Node {
                        threshold: floor_f32(threshold),
                        link: idx(child) | feature << CHILD_BITS,
                    }
                }
            };
            if let Some(c) = self.nodes.get_mut(at) {
                *c = compiled;
            }
        }
        let root = idx(base);
        let steps = idx(steps);
        self.roots.push(root);
        match self.groups.last_mut() {
            Some(g) if g.len < LANES => {
                if let Some(r) = g.roots.get_mut(g.len) {
                    *r = root;
                }
                g.len += 1;
                g.steps = g.steps.max(steps);
            }
            _ => self.groups.push(Group {
                roots: [root; LANES],
                len: 1,
                steps,
            }),
        }
    }

    /// The split thresholds of the trees per feature (see [`Cuts`]), for the
    /// first `n_features` features.
    pub fn cuts(&self, n_features: usize) -> Cuts {
        let mut per_feature = vec![Vec::new(); n_features];
        for (i, node) in self.nodes.iter().enumerate() {
            // A leaf links to itself; every other node is a split.
            if node.child() as usize != i {
                if let Some(cuts) = per_feature.get_mut(node.feature()) {
                    cuts.push(node.threshold);
                }
            }
        }
        let mut out = Cuts::default();
        for mut cuts in per_feature {
            cuts.sort_by(f32::total_cmp);
            cuts.dedup();
            out.cuts.extend(cuts);
            out.ends.push(idx(out.cuts.len()));
        }
        out
    }

    /// Calls `f` with the payload index of the leaf `x` reaches in each tree,
    /// in tree order.
    #[inline]
    pub fn for_each_leaf(&self, x: &Cast, mut f: impl FnMut(u32)) {
        self.for_each_leaf_until(x, |leaf| {
            f(leaf);
            ControlFlow::Continue(())
        });
    }

    /// [`Trees::for_each_leaf`], stopping at the first leaf for which `f`
    /// breaks: `f` sees the leaves of a prefix of the trees, in tree order.
    #[inline]
    pub fn for_each_leaf_until(&self, x: &Cast, mut f: impl FnMut(u32) -> ControlFlow<()>) {
        let Some(last) = self.nodes.len().checked_sub(1) else {
            return;
        };
        // Every index a walk makes is a node's (see `lay_out`); clamping it
        // lets the compiler drop the bounds test from the loop.
        let step = |lane: &mut u32| {
            if let Some(node) = self.nodes.get((*lane as usize).min(last)) {
                *lane = node.next(x);
            }
        };
        for g in &self.groups {
            let mut at = g.roots;
            if g.len == LANES {
                for _ in 0..g.steps {
                    at.iter_mut().for_each(step);
                }
            } else {
                // The last group of a forest whose trees do not fill it.
                let lanes = at.get_mut(..g.len).unwrap_or(&mut []);
                for _ in 0..g.steps {
                    lanes.iter_mut().for_each(step);
                }
            }
            for lane in at.iter().take(g.len) {
                let leaf = self.nodes.get(*lane as usize).map_or(0, |n| n.payload());
                if f(leaf).is_break() {
                    return;
                }
            }
        }
    }

    /// Calls `visit(tree, split_features, leaf_payload)` for each tree, with
    /// the features of the splits on `x`'s path in root-to-leaf order (at most
    /// [`MAX_DEPTH`]). Tests check faster walks against it.
    #[cfg(test)]
    pub fn paths(&self, x: &Cast, mut visit: impl FnMut(usize, &[u32], u32)) {
        let mut path = [0u32; MAX_DEPTH];
        for (t, root) in self.roots.iter().enumerate() {
            let mut i = *root;
            let mut len = 0;
            let mut payload = 0;
            while let Some(node) = self.nodes.get(i as usize) {
                if node.child() == i {
                    payload = node.payload();
                    break;
                }
                if len >= MAX_DEPTH {
                    break;
                }
                if let Some(p) = path.get_mut(len) {
                    *p = idx(node.feature());
                }
                len += 1;
                i = node.next(x);
            }
            visit(t, path.get(..len).unwrap_or(&path), payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(
        left: &[i32],
        right: &[i32],
        feature: &[i32],
    ) -> Result<Trees, (Option<usize>, TreeProblem)> {
        let threshold = vec![0.5; left.len()];
        let mut trees = Trees::default();
        trees.push(
            TreeArrays {
                left,
                right,
                feature,
                threshold: &threshold,
            },
            2,
            |i, _| Ok(idx(i)),
        )?;
        Ok(trees)
    }

    /// A leaf's payload rides in its NaN threshold: any index up to the
    /// mask comes back from a walk, and a walk that reaches a leaf before
    /// its group's last step stays there whatever the input, +inf and NaN
    /// included; a payload above the mask is refused rather than cut.
    #[test]
    fn leaves_carry_payloads_up_to_the_mask() {
        //      0: f0 <= 0.5
        //     /            \
        //   1: f0 <= 0.25   2: leaf (reached after one step of two)
        //   /        \
        // 3: leaf   4: leaf
        let arrays = TreeArrays {
            left: &[1, 3, -1, -1, -1],
            right: &[2, 4, -1, -1, -1],
            feature: &[0, 0, -2, -2, -2],
            threshold: &[0.5, 0.25, 0.0, 0.0, 0.0],
        };
        let payloads = [0, 0, PAYLOAD_MASK, 7, PAYLOAD_MASK - 1];
        let mut trees = Trees::default();
        trees.push(arrays, 1, |i, _| Ok(payloads[i])).unwrap();
        for (v, expected) in [
            (0.0, 7),
            (0.3, PAYLOAD_MASK - 1),
            (0.6, PAYLOAD_MASK),
            (f64::INFINITY, PAYLOAD_MASK),
            (f64::NAN, PAYLOAD_MASK),
        ] {
            let mut seen = Vec::new();
            trees.for_each_leaf(&cast(&[v]), |p| seen.push(p));
            assert_eq!(seen, [expected], "{v}");
        }
        let refused = Trees::default().push(arrays, 1, |_, _| Ok(PAYLOAD_MASK + 1));
        assert!(matches!(
            refused,
            Err((Some(2), TreeProblem::TooManyNodes { .. }))
        ));
        // Leaves' NaN thresholds compare by their bits.
        assert_eq!(trees, trees.clone());
    }

    #[test]
    fn payloads_keep_each_distinct_value_once() {
        let mut p = Payloads::default();
        assert_eq!(p.intern(7u64, "a"), 0);
        assert_eq!(p.intern(9, "b"), 1);
        assert_eq!(p.intern(7, "a"), 0);
        assert_eq!(p.intern(3, "c"), 2);
        assert_eq!(p.intern(9, "b"), 1);
        assert_eq!(p.into_values(), ["a", "b", "c"]);
    }

    #[test]
    fn structural_problems_name_the_node() {
        use TreeProblem::*;
        type Case<'a> = (&'a [i32], &'a [i32], &'a [i32], Option<usize>, TreeProblem);
        let cases: &[Case] = &[
            (&[], &[], &[], None, Empty),
            (
                &[1, -1],
                &[2, -1, -1],
                &[0, 0],
                None,
                Length {
                    field: "right",
                    len: 3,
                    expected: 2,
                },
            ),
            (
                &[1, -1, -1],
                &[-1, -1, -1],
                &[0, 0, 0],
                Some(0),
                HalfLeaf { left: 1, right: -1 },
            ),
            (
                &[1, -1, -1],
                &[3, -1, -1],
                &[0, 0, 0],
                Some(0),
                ChildOutOfRange { child: 3, nodes: 3 },
            ),
            (
                &[0, -1, -1],
                &[2, -1, -1],
                &[0, 0, 0],
                Some(0),
                ChildNotAfterParent { child: 0 },
            ),
            (
                &[1, -1],
                &[1, -1],
                &[0, 0],
                Some(0),
                TwoParents { child: 1 },
            ),
            (
                &[1, -1, -1, -1],
                &[2, -1, -1, -1],
                &[0, 0, 0, 0],
                Some(3),
                Unreachable,
            ),
            (
                &[1, -1, -1],
                &[2, -1, -1],
                &[2, 0, 0],
                Some(0),
                Feature {
                    feature: 2,
                    n_features: 2,
                },
            ),
        ];
        for (left, right, feature, node, problem) in cases {
            assert_eq!(
                compile(left, right, feature).err(),
                Some((*node, problem.clone())),
                "{left:?} {right:?}"
            );
        }
    }

    #[test]
    fn chains_deeper_than_the_limit_are_rejected() {
        // A left-leaning chain: node i splits into i+1 (internal) and a leaf.
        let internal = MAX_DEPTH + 1;
        let n = 2 * internal + 1;
        let mut left = vec![-1; n];
        let mut right = vec![-1; n];
        for i in 0..internal {
            left[2 * i] = (2 * i + 2) as i32;
            right[2 * i] = (2 * i + 1) as i32;
        }
        let err = compile(&left, &right, &vec![0; n]).err();
        assert!(
            matches!(err, Some((_, TreeProblem::TooDeep { depth: 65, max: 64 }))),
            "{err:?}"
        );
    }

    #[test]
    fn walk_follows_le_to_the_left_and_reports_the_path() {
        //      0: f1 <= 0.5
        //     /            \
        //   1: leaf      2: f0 <= 0.5
        //                /         \
        //             3: leaf    4: leaf
        let trees = compile(&[1, -1, 3, -1, -1], &[2, -1, 4, -1, -1], &[1, 0, 0, 0, 0]).unwrap();
        let leaf = |x: [f64; 2]| {
            let mut first = None;
            trees.for_each_leaf(&cast(&x), |p| {
                first.get_or_insert(p);
            });
            first
        };
        assert_eq!(leaf([9.0, 0.5]), Some(1));
        assert_eq!(leaf([0.5, 0.6]), Some(3));
        assert_eq!(leaf([0.6, 0.6]), Some(4));
        assert_eq!(leaf([0.0, f64::NAN]), Some(3), "NaN goes right");
        let mut seen = Vec::new();
        trees.paths(&cast(&[0.6, 0.6]), |t, p, leaf| {
            seen.push((t, p.to_vec(), leaf))
        });
        assert_eq!(seen, vec![(0, vec![1, 0], 4)]);
    }

    #[test]
    fn f32_thresholds_decide_like_f64_ones() {
        let just_above_one = 1.0 + f64::EPSILON;
        let cases = [
            (1.0, 1.0f32),
            (just_above_one, 1.0),
            (1.0 - f64::EPSILON, 1.0 - f32::EPSILON / 2.0),
            (-just_above_one, -(1.0 + f32::EPSILON)),
            (0.0, 0.0),
            (1e-300, 0.0),
            (-1e-300, -f32::from_bits(1)),
            (1e300, f32::MAX),
            (-1e300, f32::NEG_INFINITY),
        ];
        for (t, want) in cases {
            assert_eq!(floor_f32(t).to_bits(), want.to_bits(), "{t:e}");
        }
        // Exhaustive near a threshold: every f32 around it decides the same.
        let t = 2.116_432_189_941_406_2_f64 + 1e-12;
        let f = floor_f32(t);
        let mut v = f32::from_bits(f.to_bits() - 50);
        for _ in 0..100 {
            assert_eq!(f64::from(v) <= t, v <= f, "{v:e}");
            v = f32::from_bits(v.to_bits() + 1);
        }
    }

    /// Random trees over three features whose thresholds repeat within and
    /// across trees, and inputs at, just beside and far from every
    /// threshold: each cell counts the distinct thresholds an input goes
    /// right at, and inputs of one cell reach the same leaves.
    #[test]
    fn cells_count_the_splits_gone_right_at_and_inputs_of_a_cell_walk_alike() {
        let mut rng = crate::test_rng::Xorshift(0x9e37_79b9_7f4a_7c15);
        let values = [-1e300, -1.5, -0.0, 0.0, 0.25, 0.25 + 1e-12, 1.0, 2.5, 1e300];
        let mut pick = |n: usize| (rng.next_u64() >> 33) as usize % n;
        let mut trees = Trees::default();
        let mut splits: Vec<(usize, f32)> = Vec::new();
        for _ in 0..20 {
            // A complete tree of depth 3: nodes in breadth-first order.
            let (mut left, mut right, mut feature, mut threshold) =
                (vec![], vec![], vec![], vec![]);
            for i in 0..15i32 {
                let leaf = i >= 7;
                left.push(if leaf { -1 } else { 2 * i + 1 });
                right.push(if leaf { -1 } else { 2 * i + 2 });
                let f = pick(3);
                let t = values.get(pick(values.len())).copied().unwrap();
                feature.push(f as i32);
                threshold.push(t);
                if !leaf {
                    splits.push((f, floor_f32(t)));
                }
            }
            let arrays = TreeArrays {
                left: &left,
                right: &right,
                feature: &feature,
                threshold: &threshold,
            };
            trees.push(arrays, 3, |i, _| Ok(idx(i))).unwrap();
        }
        let cuts = trees.cuts(3);
        let mut inputs: Vec<f32> = vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3.0, -3.0];
        for &(_, t) in &splits {
            inputs.extend([t, t.next_up(), t.next_down()]);
        }
        let leaves = |x: &Cast| {
            let mut out = Vec::new();
            trees.for_each_leaf(x, |p| out.push(p));
            out
        };
        let mut seen: Vec<([u32; 4], Vec<u32>)> = Vec::new();
        for _ in 0..3000 {
            let v = [0, 1, 2].map(|_| inputs.get(pick(inputs.len())).copied().unwrap());
            let x = cast(&v.map(f64::from));
            let cell = cuts.cell::<4>(&x).unwrap();
            for f in 0..3 {
                let mut gone_right: Vec<f32> = splits
                    .iter()
                    .filter(|(sf, t)| *sf == f && x[f] > *t)
                    .map(|(_, t)| *t)
                    .collect();
                gone_right.sort_by(f32::total_cmp);
                gone_right.dedup();
                assert_eq!(cell[f] as usize, gone_right.len(), "{v:?} feature {f}");
            }
            assert_eq!(cell[3], 0);
            let walked = leaves(&x);
            if let Some((_, other)) = seen.iter().find(|(c, _)| *c == cell) {
                assert_eq!(*other, walked, "{v:?}");
            } else {
                seen.push((cell, walked));
            }
        }
        assert!(seen.len() > 100, "only {} cells met", seen.len());
        assert_eq!(cuts.cell::<2>(&cast(&[0.0; 3])), None);
    }
}
