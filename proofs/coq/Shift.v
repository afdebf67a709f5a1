(** * Circular layers commute with shifts by multiples of the stride, for every size

    Mirrors the circular padding mode of [src/reference/conv.rs] ([PaddingMode::Circular]): on an
    input of length [L], output [i] of a one-channel layer with kernel [k], stride [s] and
    dilation [d] reads [x[(i s + j d - p_b) mod L]]; here [r] is any representative of [-p_b]
    modulo [L], so the index is [(i s + j d + r) mod L]. The circular shift ([numpy.roll]) is
    [roll_t(x)[n] = x[(n - t) mod L]]. With [s] dividing [L] ([L = q s]) the layer has [q]
    outputs per period (S2 in [proofs/shift.md]). *)

From mathcomp Require Import all_ssreflect all_algebra.
From Convspec Require Import Tactics Corr1D.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section Circular.

Variable R : comRingType.
Variables (q k s d r : nat).
Local Notation L := (q * s)%N.

(** The circular correlation layer. *)
Definition circ_layer (x : nat -> R) (w : nat -> R) i : R :=
  \sum_(0 <= j < k) w j * x ((i * s + j * d + r) %% L)%N.

(** [numpy.roll(x, t)]: [roll_t(x)[n] = x[(n - t) mod L]]. *)
Definition roll t (x : nat -> R) n : R := x ((n + (L - t %% L)) %% L)%N.

(** Theorem 4: shifting the input by [m s] shifts the output by [m]:
    [circ_layer(roll_{m s} x)[i] = circ_layer(x)[(i - m) mod q]]. *)
Theorem circ_layer_shift (x w : nat -> R) m i :
  circ_layer (roll (m * s) x) w i = circ_layer x w ((i + (q - m %% q)) %% q)%N.
Proof.
apply: eq_bigr => j _; congr (_ * x _); rewrite /roll.
have E : ((i + (q - m %% q)) * s = i * s + (L - (m * s) %% L))%N.
  by rewrite -muln_modl mulnDl mulnBl.
rewrite muln_modl [LHS]modnDml -[in RHS]addnA [RHS]modnDml E.
by congr (modn _ _); nat_lia.
Qed.

End Circular.

(** ... and not with shifts by other amounts: stride 2, shift 1, [x = [0, 1]], [w = [-1]]
    (the shrunk counterexample of [src/laws/tests.rs]): the layer's one output is 0, the shifted
    input's is -1. *)
Theorem circ_layer_not_equivariant_to_other_shifts :
  let x n := if n == 1%N then 1 else 0 : int in
  let w (_ : nat) := -1 : int in
  circ_layer 1 1 2 1 0 (roll 1 2 1 x) w 0 <> circ_layer 1 1 2 1 0 x w 0.
Proof. by rewrite /circ_layer !big_nat1 /roll. Qed.
