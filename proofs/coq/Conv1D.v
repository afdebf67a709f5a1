(** * The full one-dimensional convolution, for every length

    The definitions mirror [src/reference/numpy.rs]: [conv a v] is
    [np_convolve(a, v, Mode::Full)], NumPy's [core(a, reversed v)] with [n_left = n - 1]:
    [y[k] = sum_{j < n} a[k - (n - 1) + j] * v[n - 1 - j]], which with [m = n - 1 - j] is
    [y[k] = sum_{m <= k} a[m] * v[k - m]] (a and v read as zero outside their ranges), for
    [k < len a + len v - 1]. NumPy refuses empty operands; here the convolution with an empty
    sequence is empty. The scalars are any commutative ring.

    The coefficients are those of the product of the polynomials [sum_i a[i] X^i] and
    [sum_j v[j] X^j] ([nth_conv]); the laws follow from the ring of polynomials, which
    Mathematical Components proves commutative and associative. *)

From mathcomp Require Import all_ssreflect all_algebra.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section FullConvolution.

Variable R : comRingType.
Implicit Types a v w x y : seq R.

(** [np_convolve(a, v, 'full')]: [y[k] = sum_{m <= k} a[m] v[k - m]]. *)
Definition conv a v : seq R :=
  if (size a == 0%N) || (size v == 0%N) then [::]
  else mkseq (fun k => \sum_(0 <= m < k.+1) a`_m * v`_(k - m)) (size a + size v).-1.

(** Elementwise sum of two sequences of one length, and a multiple of a sequence. *)
Definition add_seq x y : seq R := map (fun p => p.1 + p.2) (zip x y).
Definition scale_seq (c : R) x : seq R := map (fun t => c * t) x.

(** The unit impulse [delta = [1]]. *)
Definition delta : seq R := [:: 1].

Lemma size_conv a v :
  size (conv a v) = if (size a == 0%N) || (size v == 0%N) then 0%N else (size a + size v).-1.
Proof. by rewrite /conv; case: ifP => _; rewrite ?size_mkseq. Qed.

Lemma Poly_nil : Poly [::] = 0 :> {poly R}.
Proof. by []. Qed.

(** Every coefficient of the convolution, inside the output or beyond it, is the
    polynomial product's. *)
Lemma nth_conv a v k : (conv a v)`_k = (Poly a * Poly v)`_k.
Proof.
rewrite /conv; case: ifP => [/orP[]/eqP/size0nil-> | nonempty].
- by rewrite Poly_nil mul0r coef0 nth_nil.
- by rewrite Poly_nil mulr0 coef0 nth_nil.
case: (ltnP k (size a + size v).-1) => [inside | beyond].
  by rewrite nth_mkseq // coefM big_mkord; apply: eq_bigr => m _; rewrite !coef_Poly.
rewrite nth_default ?size_mkseq // nth_default //.
apply: leq_trans (size_mul_leq _ _) _; apply: leq_trans beyond.
by rewrite -!subn1 leq_sub2r // leq_add // size_Poly.
Qed.

Lemma Poly_conv a v : Poly (conv a v) = Poly a * Poly v.
Proof. by apply/polyP => k; rewrite coef_Poly nth_conv. Qed.

(** Theorem 1a: the full convolution is commutative. *)
Theorem conv_comm a v : conv a v = conv v a.
Proof.
apply: (@eq_from_nth _ 0); first by rewrite !size_conv orbC addnC.
by move=> k _; rewrite !nth_conv mulrC.
Qed.

Lemma conv0s v : conv [::] v = [::].
Proof. by []. Qed.

Lemma convs0 a : conv a [::] = [::].
Proof. by rewrite /conv orbT. Qed.

Lemma size_conv_pos a v :
  (0 < size a)%N -> (0 < size v)%N -> size (conv a v) = (size a + size v).-1.
Proof.
by move=> pa pv; rewrite size_conv (negbTE (lt0n_neq0 pa)) (negbTE (lt0n_neq0 pv)).
Qed.

Lemma pred_add_assoc m n p : (0 < n)%N -> ((m + n).-1 + p).-1 = (m + (n + p).-1).-1.
Proof. by case: n => // n _; rewrite addnS addSn /= addnA. Qed.

(** Theorem 1b: the full convolution is associative. *)
Theorem conv_assoc a v w : conv (conv a v) w = conv a (conv v w).
Proof.
case: a => [|s a]; first by rewrite !conv0s.
case: v => [|t v]; first by rewrite convs0 !conv0s.
case: w => [|r w]; first by rewrite !convs0.
set a' := s :: a; set v' := t :: v; set w' := r :: w.
have pa : (0 < size a')%N by [].
have pv : (0 < size v')%N by [].
have pw : (0 < size w')%N by [].
have pav : (0 < size (conv a' v'))%N.
  by rewrite size_conv_pos //; case: (size v') pv => // n _; rewrite addnS addn_gt0 pa.
have pvw : (0 < size (conv v' w'))%N.
  by rewrite size_conv_pos //; case: (size w') pw => // n _; rewrite addnS addn_gt0 pv.
apply: (@eq_from_nth _ 0).
  rewrite (size_conv_pos pav pw) (size_conv_pos pa pvw) (size_conv_pos pa pv).
  by rewrite (size_conv_pos pv pw) pred_add_assoc.
by move=> k _; rewrite !nth_conv !Poly_conv mulrA.
Qed.

Lemma size_add_seq x y : size x = size y -> size (add_seq x y) = size x.
Proof. by move=> same; rewrite size_map size_zip same minnn. Qed.

Lemma nth_add_seq x y k : size x = size y -> (add_seq x y)`_k = x`_k + y`_k.
Proof.
move=> same; case: (ltnP k (size x)) => [inside | beyond].
  by rewrite (nth_map (0, 0)) ?nth_zip // size_zip same minnn -same.
by rewrite !nth_default ?addr0 ?size_add_seq // -same.
Qed.

Lemma nth_scale_seq c x k : (scale_seq c x)`_k = c * x`_k.
Proof.
case: (ltnP k (size x)) => [inside | beyond]; first by rewrite (nth_map 0).
by rewrite !nth_default ?mulr0 ?size_map.
Qed.

Lemma Poly_add_seq x y : size x = size y -> Poly (add_seq x y) = Poly x + Poly y.
Proof. by move=> same; apply/polyP => k; rewrite coefD !coef_Poly nth_add_seq. Qed.

Lemma Poly_scale_seq c x : Poly (scale_seq c x) = c *: Poly x.
Proof. by apply/polyP => k; rewrite coefZ !coef_Poly nth_scale_seq. Qed.

(** Theorem 1c: linear in the first argument (sums of one length, and multiples)... *)
Theorem conv_addl x y v :
  size x = size y -> conv (add_seq x y) v = add_seq (conv x v) (conv y v).
Proof.
move=> same.
have sizes : size (conv x v) = size (conv y v) by rewrite !size_conv same.
apply: (@eq_from_nth _ 0); first by rewrite size_add_seq // !size_conv size_add_seq.
by move=> k _; rewrite nth_add_seq // !nth_conv Poly_add_seq // mulrDl coefD.
Qed.

Theorem conv_scalel c x v : conv (scale_seq c x) v = scale_seq c (conv x v).
Proof.
apply: (@eq_from_nth _ 0); first by rewrite size_map !size_conv size_map.
by move=> k _; rewrite nth_scale_seq !nth_conv Poly_scale_seq -scalerAl coefZ.
Qed.

(** ... and, by commutativity, in the second. *)
Theorem conv_addr a x y :
  size x = size y -> conv a (add_seq x y) = add_seq (conv a x) (conv a y).
Proof. by move=> same; rewrite !(conv_comm a) conv_addl. Qed.

Theorem conv_scaler c a x : conv a (scale_seq c x) = scale_seq c (conv a x).
Proof. by rewrite !(conv_comm a) conv_scalel. Qed.

(** Theorem 1d: the unit impulse is the identity. *)
Theorem conv_delta a : conv a delta = a.
Proof.
have one : Poly delta = 1 by apply/polyP => k; rewrite coef_Poly coef1; case: k => [|[]].
apply: (@eq_from_nth _ 0).
  by rewrite size_conv /= orbF; case: a => [|s a] //; rewrite addn1.
by move=> k _; rewrite nth_conv one mulr1 coef_Poly.
Qed.

Theorem delta_conv a : conv delta a = a.
Proof. by rewrite conv_comm conv_delta. Qed.

(** ** Evaluation

    Big operators are locked in Mathematical Components, so that [vm_compute] does not unfold
    them. [conv_eval] is [conv] with its sums written as folds over [0, n); [conv_evalE]
    proves them equal, so evaluating [conv_eval] (the bridge to the Rust code, [Bridge.v])
    evaluates [conv]. *)

Definition sum_upto n (f : nat -> R) : R := foldr (fun m acc => f m + acc) 0 (iota 0 n).

Lemma sum_uptoE n f : sum_upto n f = \sum_(0 <= m < n) f m.
Proof.
rewrite /sum_upto /index_iota subn0.
by elim: (iota 0 n) => [|m r IH] /=; rewrite ?big_nil ?big_cons ?IH.
Qed.

Definition conv_eval a v : seq R :=
  if (size a == 0%N) || (size v == 0%N) then [::]
  else mkseq (fun k => sum_upto k.+1 (fun m => a`_m * v`_(k - m))) (size a + size v).-1.

Lemma conv_evalE a v : conv_eval a v = conv a v.
Proof.
rewrite /conv_eval /conv; case: ifP => // _.
by apply: eq_mkseq => k; rewrite sum_uptoE.
Qed.

End FullConvolution.
