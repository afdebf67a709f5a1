(** * Max pooling's window maximum, for every window

    [max_pool] of [src/reference/pool.rs] takes, per output, the maximum of the window's input
    elements (a non-empty window: the Rust code refuses windows entirely in the padding). Here a
    window is [y :: s] over any totally ordered type and its maximum [foldr max y s]. *)

From mathcomp Require Import all_ssreflect.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import Order.Theory.
Local Open Scope order_scope.

Section MaxPool.

Variables (disp : unit) (T : orderType disp).
Implicit Types (y z : T) (s : seq T).

Definition window_max y s : T := foldr Order.max y s.

Lemma window_max_mem y s : window_max y s \in y :: s.
Proof.
elim: s => [|z s IH] /=; first by rewrite mem_seq1.
rewrite maxEle; case: ifP => _; first by move: IH; rewrite !inE => /orP[->|->]; rewrite ?orbT.
by rewrite !inE eqxx orbT.
Qed.

Lemma window_max_ge y s z : z \in y :: s -> z <= window_max y s.
Proof.
elim: s => [|t s IH] /=; first by rewrite mem_seq1 => /eqP ->.
rewrite !inE le_maxr => /or3P[/eqP zy | /eqP zt | zs].
- by apply/orP; right; apply: IH; rewrite zy mem_head.
- by rewrite zt lexx.
- by apply/orP; right; apply: IH; rewrite inE zs orbT.
Qed.

(** Theorem 6c (P2): the maximum of a window does not depend on the order of its elements. *)
Theorem window_max_perm y1 s1 y2 s2 :
  perm_eq (y1 :: s1) (y2 :: s2) -> window_max y1 s1 = window_max y2 s2.
Proof.
move=> perm; apply/le_anti/andP; split; apply: window_max_ge.
  by rewrite -(perm_mem perm) window_max_mem.
by rewrite (perm_mem perm) window_max_mem.
Qed.

End MaxPool.
