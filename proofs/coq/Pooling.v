(** * Pooling, for every size

    Mirrors [avg_pool] and [global_avg_pool] of [src/reference/pool.rs] on one channel, over a
    field: average pooling with [count_include_pad] (PyTorch's default), no ceil mode, window
    [k], stride [s], dilation [d] (ONNX's generalisation; PyTorch has [d = 1]), zero padding
    [p_b] in front: [y[i] = (1/k) sum_{j < k} xpad[i s + j d]]; global average pooling
    [(1/L) sum_{p < L} x[p]]. *)

From mathcomp Require Import all_ssreflect all_algebra fingroup perm.
From Convspec Require Import Layer1D.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section Pooling.

Variable F : fieldType.
Variables (L k s d pb : nat).
Implicit Types x : nat -> nat -> F.

(** [avg_pool] on channel [c], every window counted in full ([count_include_pad]). *)
Definition avg_pool x c i : F :=
  (k%:R)^-1 * \sum_(0 <= j < k) xpad L pb x c (i * s + j * d)%N.

(** Theorem 6a: average pooling is the correlation layer (one group of one channel) with the
    constant kernel [1/k]. *)
Theorem avg_pool_is_correlation x c i :
  avg_pool x c i = layer 1 1 L k s d pb (fun _ => x c) (fun _ _ _ => (k%:R)^-1) 0 i.
Proof.
by rewrite /avg_pool /layer big_nat1 mulr_sumr divn_small // mul0n add0n.
Qed.

(** [global_avg_pool] on one channel of length [L]. *)
Definition global_avg_pool (x : nat -> F) : F := (L%:R)^-1 * \sum_(0 <= p < L) x p.

(** Theorem 6b: global pooling is invariant under every permutation of the positions (the
    permuted signal is [p |-> x (perm p)]) ... *)
Theorem global_avg_pool_permutation (x : nat -> F) (perm : {perm 'I_L}) :
  ((L%:R)^-1 * \sum_(p < L) x (perm p))%R = global_avg_pool x.
Proof.
rewrite /global_avg_pool big_mkord; congr (_ * _).
by rewrite [RHS](reindex_inj (@perm_inj _ perm)).
Qed.

(** ... circular shifts among them. *)
Theorem global_avg_pool_circular_shift (x : nat -> F) t :
  global_avg_pool (fun p => x ((p + t) %% L)%N) = global_avg_pool x.
Proof.
rewrite /global_avg_pool; congr (_ * _).
case: L => [|n]; first by rewrite !big_geq.
rewrite !big_mkord.
pose shift (p : 'I_n.+1) : 'I_n.+1 := Ordinal (ltn_pmod (p + t) (ltn0Sn n)).
have shift_inj : injective shift.
  move=> p q /(congr1 val) /= /eqP; rewrite eqn_modDr => /eqP.
  by rewrite !modn_small // => /val_inj.
by rewrite [RHS](reindex_inj shift_inj).
Qed.

End Pooling.
