//! The graph layer of wgtrain: shapes, the op set with its shape rules, the graph builder,
//! reverse-mode autodiff as a graph transformation, the planner and the backend boundary.

pub mod autodiff;
pub mod backend;
mod batch_norm;
pub mod conv;
pub mod dtype;
pub mod error;
pub mod fusion;
mod gate;
pub mod graph;
pub mod infer;
pub mod op;
pub mod optim;
pub mod plan;
pub mod recurrent;
mod reorder;
pub mod rng;
pub mod shape;

pub use autodiff::gradients;
pub use backend::{Backend, Feed, Phase, PlanId, StepArgs};
pub use conv::{Conv1dGeometry, Conv2dGeometry, Padding, PoolKind};
pub use dtype::DType;
pub use error::GraphError;
pub use graph::{Graph, Node, NodeId};
pub use op::{AccuracyKind, BinaryOp, GatedMix, Op, ParamId, ReduceOp, UnaryOp};
pub use optim::OptimizerSpec;
pub use plan::{Assign, Plan, PlanOutputs, Slot, Update};
pub use recurrent::{Activation, Cell, Packing, Part, RecurrentOutputs, RecurrentSpec};
pub use shape::Shape;
