(** * The full two-dimensional convolution, for every shape

    Mirrors [convolve] of [src/reference/conv.rs] in full mode on one channel (the padding
    [d (k - 1)] on both sides), which is also [scipy.signal.convolve2d(x, w, 'full')]: a signal
    [x] of shape [(H_x, W_x)] ([x a b] for [a < H_x], [b < W_x]) and a kernel of shape
    [(H_w, W_w)] give [y[i, j] = sum_{a + c = i, b + e = j} x[a, b] w[c, e]], of shape
    [(H_x + H_w - 1, W_x + W_w - 1)] (zero beyond). *)

From mathcomp Require Import all_ssreflect all_algebra.
From Convspec Require Import Tactics Conv1D.

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

(** ** Associativity, through polynomials in two variables

    [P2 H W x = sum_{a < H} (sum_{b < W} x[a, b] Y^b) X^a]: the convolution's coefficients are
    those of the product ([coef_P2_mul]), and the product is associative. *)
Definition P2 H W x : {poly {poly R}} :=
  \sum_(0 <= a < H) (\sum_(0 <= b < W) x a b *: 'X^b)%:P * 'X^a.

(** A term times [(t == u)%:R], as a choice. *)
Lemma mul_eq_nat (z : R) (t u : nat) : z * (t == u)%:R = if t == u then z else 0.
Proof. by case: eqP; rewrite ?mulr1 ?mulr0. Qed.

Lemma coef_row W x a b :
  (\sum_(0 <= e < W) x a e *: 'X^e)`_b = if (b < W)%N then x a b else 0.
Proof.
rewrite coef_sum; under eq_bigr => e _ do rewrite coefZ coefXn mul_eq_nat.
rewrite -(sum_pick W (fun e => x a e) b); apply: eq_bigr => e _.
by rewrite eq_sym.
Qed.

Lemma coef_P2 H W x a b :
  ((P2 H W x)`_a)`_b = if ((a < H) && (b < W))%N then x a b else 0.
Proof.
rewrite /P2 coef_sum; under eq_bigr => c _ do rewrite coefCM coefXn mulr_natr.
rewrite coef_sum; under eq_bigr => c _ do rewrite coefMn coef_row mulrb.
rewrite (eq_bigr (fun c => if c == a then (if (b < W)%N then x c b else 0) else 0)).
  by rewrite sum_pick; case: (a < H)%N.
by move=> c _; rewrite eq_sym; case: eqP => // ->.
Qed.

Lemma mul_monomials (p q : {poly R}) a c :
  p%:P * 'X^a * (q%:P * 'X^c) = (p * q)%:P * 'X^(a + c).
Proof. by rewrite mulrACA -polyCM -exprD. Qed.

Lemma coef_rows_mul Wx Ww x w a c j :
  ((\sum_(0 <= b < Wx) x a b *: 'X^b) * (\sum_(0 <= e < Ww) w c e *: 'X^e))`_j
  = \sum_(0 <= b < Wx) \sum_(0 <= e < Ww) (if (b + e == j)%N then x a b * w c e else 0).
Proof.
rewrite mulr_suml coef_sum; apply: eq_bigr => b _.
rewrite mulr_sumr coef_sum; apply: eq_bigr => e _.
by rewrite -scalerAl -scalerAr scalerA -exprD coefZ coefXn mul_eq_nat eq_sym.
Qed.

(** The coefficients of the product are the convolution's. *)
Lemma coef_P2_mul Hx Wx x Hw Ww w i j :
  ((P2 Hx Wx x * P2 Hw Ww w)`_i)`_j = conv2 Hx Wx x Hw Ww w i j.
Proof.
rewrite /P2 mulr_suml coef_sum coef_sum /conv2; apply: eq_bigr => a _.
rewrite mulr_sumr coef_sum coef_sum exchange_big /=; apply: eq_bigr => c _.
rewrite mul_monomials coefCM coefXn mulr_natr coefMn mulrb coef_rows_mul.
case: eqP => [-> | ne].
  by apply: eq_bigr => b _; apply: eq_bigr => e _; rewrite eqxx.
rewrite big1 // => b _; rewrite big1 // => e _.
by case: eqP => // ac; case: ne.
Qed.

Lemma conv2_beyond Hx Wx x Hw Ww w i j :
  ~~ ((i < Hx + Hw - 1) && (j < Wx + Ww - 1))%N -> conv2 Hx Wx x Hw Ww w i j = 0.
Proof.
move=> out; rewrite /conv2 big1_seq // => a; rewrite mem_iota add0n subn0 => /andP[_ aH].
rewrite big1_seq // => b; rewrite mem_iota add0n subn0 => /andP[_ bW].
rewrite big1_seq // => c; rewrite mem_iota add0n subn0 => /andP[_ cH].
rewrite big1_seq // => e; rewrite mem_iota add0n subn0 => /andP[_ eW].
case: ifP => // /andP[/eqP ai /eqP bj]; exfalso; move: out; rewrite -ai -bj.
move: (a : nat) (b : nat) (c : nat) (e : nat) aH bW cH eW => {ai bj} a' b' c' e' aH bW cH eW.
by move/negP; apply; apply/andP; split; nat_lia.
Qed.

Lemma P2_conv2 Hx Wx x Hw Ww w :
  P2 (Hx + Hw - 1) (Wx + Ww - 1) (conv2 Hx Wx x Hw Ww w) = P2 Hx Wx x * P2 Hw Ww w.
Proof.
apply/polyP => i; apply/polyP => j; rewrite coef_P2 coef_P2_mul.
by case: ifP => // /negbT out; rewrite conv2_beyond.
Qed.

(** Theorem 1, 2-D: associative. *)
Theorem conv2_assoc Hx Wx x Hw Ww w Hv Wv v i j :
  conv2 (Hx + Hw - 1) (Wx + Ww - 1) (conv2 Hx Wx x Hw Ww w) Hv Wv v i j
  = conv2 Hx Wx x (Hw + Hv - 1) (Ww + Wv - 1) (conv2 Hw Ww w Hv Wv v) i j.
Proof. by rewrite -!coef_P2_mul !P2_conv2 mulrA. Qed.

(** [conv2] with its sums as folds, for evaluation ([Bridge.v]); proved equal. *)
Definition conv2_eval Hx Wx x Hw Ww w i j : R :=
  sum_upto Hx (fun a => sum_upto Wx (fun b => sum_upto Hw (fun c => sum_upto Ww (fun e =>
     if (a + c == i)%N && (b + e == j)%N then x a b * w c e else 0)))).

Lemma conv2_evalE Hx Wx x Hw Ww w i j :
  conv2_eval Hx Wx x Hw Ww w i j = conv2 Hx Wx x Hw Ww w i j.
Proof.
rewrite /conv2_eval sum_uptoE; apply: eq_bigr => a _; rewrite sum_uptoE.
by apply: eq_bigr => b _; rewrite sum_uptoE; apply: eq_bigr => c _; rewrite sum_uptoE.
Qed.

End FullConvolution2D.
