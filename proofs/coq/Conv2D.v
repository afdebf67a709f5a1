(** * The full two-dimensional convolution, for every shape

    Mirrors [convolve] of [src/reference/conv.rs] in full mode on one channel (the padding
    [d (k - 1)] on both sides), which is also [scipy.signal.convolve2d(x, w, 'full')]: a signal
    [x] of shape [(H_x, W_x)] ([x a b] for [a < H_x], [b < W_x]) and a kernel of shape
    [(H_w, W_w)] give [y[i, j] = sum_{a + c = i, b + e = j} x[a, b] w[c, e]], of shape
    [(H_x + H_w - 1, W_x + W_w - 1)] (zero beyond). *)

From mathcomp Require Import all_ssreflect all_algebra.
From Convspec Require Import Tactics.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section FullConvolution2D.

Variable R : comRingType.
Implicit Types x w v : nat -> nat -> R.

Definition conv2 Hx Wx x Hw Ww w i j : R :=
  \sum_(0 <= a < Hx) \sum_(0 <= b < Wx) \sum_(0 <= c < Hw) \sum_(0 <= e < Ww)
     (if (a + c == i)%N && (b + e == j)%N then x a b * w c e else 0).

(** Theorem 1, 2-D: commutative ... *)
Theorem conv2_comm Hx Wx x Hw Ww w i j :
  conv2 Hx Wx x Hw Ww w i j = conv2 Hw Ww w Hx Wx x i j.
Proof.
rewrite /conv2.
under eq_bigr => a _ do rewrite exchange_big.
rewrite exchange_big.
under eq_bigr => c _ do under eq_bigr => a _ do rewrite exchange_big.
under eq_bigr => c _ do rewrite exchange_big.
apply: eq_bigr => c _; apply: eq_bigr => e _; apply: eq_bigr => a _; apply: eq_bigr => b _.
by rewrite [(a + c)%N]addnC [(b + e)%N]addnC mulrC.
Qed.

(** ... linear in the signal (the kernel by commutativity) ... *)
Theorem conv2_addl Hx Wx x x' Hw Ww w i j :
  conv2 Hx Wx (fun a b => x a b + x' a b) Hw Ww w i j
  = conv2 Hx Wx x Hw Ww w i j + conv2 Hx Wx x' Hw Ww w i j.
Proof.
rewrite /conv2 -big_split; apply: eq_bigr => a _; rewrite -big_split.
apply: eq_bigr => b _; rewrite -big_split; apply: eq_bigr => c _; rewrite -big_split.
by apply: eq_bigr => e _; case: ifP; rewrite /= ?addr0 // mulrDl.
Qed.

Theorem conv2_scalel Hx Wx x (k : R) Hw Ww w i j :
  conv2 Hx Wx (fun a b => k * x a b) Hw Ww w i j = k * conv2 Hx Wx x Hw Ww w i j.
Proof.
rewrite /conv2 mulr_sumr; apply: eq_bigr => a _; rewrite mulr_sumr.
apply: eq_bigr => b _; rewrite mulr_sumr; apply: eq_bigr => c _; rewrite mulr_sumr.
by apply: eq_bigr => e _; case: ifP; rewrite /= ?mulr0 // mulrA.
Qed.

(** A sum over [0, n) of a term kept only at [t]. *)
Lemma sum_pick n (F : nat -> R) t :
  \sum_(0 <= a < n) (if a == t then F a else 0) = if (t < n)%N then F t else 0.
Proof.
case: ltnP => [tn | nt].
  rewrite (bigD1_seq t) ?iota_uniq //=; last by rewrite mem_iota add0n subn0 tn.
  by rewrite eqxx big1 ?addr0 // => a /negbTE ->.
rewrite big1_seq // => a; rewrite mem_iota add0n subn0 => /andP[_ an].
by case: eqP => // e; move: an; rewrite e ltnNge nt.
Qed.

(** ... and the unit impulse (shape (1, 1)) is the identity. *)
Theorem conv2_delta Hx Wx x i j :
  conv2 Hx Wx x 1 1 (fun _ _ => 1) i j = if ((i < Hx) && (j < Wx))%N then x i j else 0.
Proof.
rewrite /conv2.
under eq_bigr => a _ do under eq_bigr => b _ do rewrite !big_nat1 !addn0 mulr1.
transitivity (\sum_(0 <= a < Hx) (if a == i then \sum_(0 <= b < Wx)
                                    (if b == j then x a b else 0) else 0)).
  apply: eq_bigr => a _; case: eqP => _ /=; last by rewrite big1.
  by [].
rewrite sum_pick; case: ltnP => //= _; first by rewrite sum_pick.
Qed.

End FullConvolution2D.
