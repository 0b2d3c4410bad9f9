//! The search's vocabulary, shared by the search, the decision procedures and the models'
//! shortcuts: an operation as the search sees it, what pruning says of it, and what a decision
//! procedure concludes. Plain data; it imports nothing, so the modules that use it form a tree.

/// One operation of a partition, ready for the search.
#[derive(Debug)]
pub struct SearchOp<O> {
    pub op: O,
    /// Position of the invocation in the history (real-time order).
    pub call_at: usize,
    /// Position of the `ok` completion, or `None` when the op may stay pending forever.
    pub return_at: Option<usize>,
}

/// What crashed-op pruning (`Shortcuts::bound_crashed`) says of an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Search it as it is.
    Keep,
    /// A crashed op that can be left out of every linearization: the search skips it.
    Drop,
    /// A crashed op that must take effect, before this position in the history (the return of
    /// the first op that needs it): the search treats it as an op returning there.
    Before(usize),
}

/// The verdict of a decision procedure that replaces the search for some keys
/// (`Shortcuts::decide`).
#[derive(Debug)]
pub enum Decision<S> {
    Linearizable,
    NotLinearizable(Violation<S>),
}

/// Why a decision procedure found a key not linearizable.
#[derive(Debug)]
pub struct Violation<S> {
    /// The op that cannot be placed (an index into the ops).
    pub failing: usize,
    /// A linearizable prefix, as indexes into the ops, in order.
    pub linearized: Vec<usize>,
    /// The model's state after that prefix.
    pub state: S,
    /// In words.
    pub reason: String,
}
