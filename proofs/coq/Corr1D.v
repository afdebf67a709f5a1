(** * One-dimensional correlation, for every length

    [corr a v] mirrors [src/reference/numpy.rs]: [np_correlate(a, v, Mode::Full)] is NumPy's
    [core(a, v)] with [n_left = n - 1], [c[k] = sum_{j < n} a[k - (n - 1) + j] * v[j]] (a read
    as zero outside its range; n = len v), for [k < len a + len v - 1]. *)

From mathcomp Require Import all_ssreflect all_algebra.
From Convspec Require Import Tactics Conv1D.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.


Section Correlation.

Variable R : comRingType.
Implicit Types a v w : seq R.

(** [np_correlate(a, v, 'full')]: [c[k] = sum_{j < n} a[k - (n - 1) + j] v[j]]. *)
Definition corr a v : seq R :=
  if (size a == 0%N) || (size v == 0%N) then [::]
  else mkseq (fun k => \sum_(j < size v)
                 (if ((size v).-1 <= k + j)%N then a`_(k + j - (size v).-1) else 0) * v`_j)
             (size a + size v).-1.

(** Theorem 2a: correlation is convolution with the reversed kernel. *)
Theorem corr_conv_rev a v : corr a v = conv a (rev v).
Proof.
case sv: (size v) => [|n].
  by move/size0nil: sv => ->; rewrite /corr orbT convs0.
case sa: (size a) => [|m].
  by move/size0nil: sa => ->; rewrite /corr conv0s.
have sizes : size (corr a v) = (size a + size v).-1 by rewrite /corr sa sv size_mkseq.
apply: (@eq_from_nth _ 0).
  by rewrite sizes size_conv size_rev sa sv.
move=> k; rewrite sizes => inside.
rewrite /corr sa sv nth_mkseq; last by rewrite -sa -sv.
rewrite nth_conv coefMr (reindex_inj rev_ord_inj).
pose F j := (if (n <= k + (n - j))%N then a`_(k + (n - j) - n) else 0) * v`_(n - j).
pose G j := (Poly a)`_(k - j) * (Poly (rev v))`_j.
transitivity (\sum_(j < n.+1) F j).
  by apply: eq_bigr => j _; rewrite /F /= subSS.
rewrite (big_ord_widen (n.+1 + k.+1) F) ?leq_addr //.
rewrite (big_ord_widen (n.+1 + k.+1) G) ?leq_addl //.
rewrite [LHS]big_mkcond [RHS]big_mkcond; apply: eq_bigr => i _ /=.
rewrite /F /G !coef_Poly.
case: (ltnP i n.+1) => [iv | vi]; case: (ltnP i k.+1) => [ik | ki] //.
- rewrite ltnS in iv ik.
  have E : (n <= k + (n - i))%N = (i <= k)%N.
    by rewrite -(leq_add2r i) -addnA subnK // [(n + i)%N]addnC leq_add2r.
  rewrite E -ltnS ik addnBA // subnAC addnK.
  by rewrite nth_rev ?sv // subSS.
- rewrite ltnS in iv.
  have E : (n <= k + (n - i))%N = (i <= k)%N.
    by rewrite -(leq_add2r i) -addnA subnK // [(n + i)%N]addnC leq_add2r.
  by rewrite E leqNgt ki mul0r.
- by rewrite [(rev v)`_i]nth_default ?mulr0 // size_rev sv.
Qed.

(** A sequence's polynomial as the sum of its monomials. *)
Lemma Poly_sum a : Poly a = \sum_(i < size a) a`_i *: 'X^i.
Proof.
apply/polyP => k; rewrite coef_Poly coef_sum.
under eq_bigr do rewrite coefZ coefXn.
case: (ltnP k (size a)) => [ka | ak].
  rewrite (bigD1 (Ordinal ka)) //= eqxx mulr1 big1 ?addr0 // => i ne.
  suff -> : (k == i) = false by rewrite mulr0.
  by apply/negbTE; apply: contra ne => /eqP ki; apply/eqP/val_inj.
rewrite nth_default // big1 // => i _.
suff -> : (k == i) = false by rewrite mulr0.
by apply/negbTE; rewrite neq_ltn (leq_trans (ltn_ord i) ak) orbT.
Qed.

(** The coefficient [k] of the convolution: the products [a[i] v[j]] with [i + j = k]. *)
Lemma nth_conv_pairs a v k :
  (conv a v)`_k = \sum_(i < size a) \sum_(j < size v) a`_i * v`_j * (k == (i + j)%N)%:R.
Proof.
rewrite nth_conv !Poly_sum mulr_suml coef_sum; apply: eq_bigr => i _.
rewrite mulr_sumr coef_sum; apply: eq_bigr => j _.
by rewrite -scalerAl -scalerAr scalerA -exprD coefZ coefXn.
Qed.

(** The reversal of a convolution is the convolution of the reversals. *)
Theorem rev_conv a v : rev (conv a v) = conv (rev a) (rev v).
Proof.
case sa: (size a) => [|p].
  by move/size0nil: sa => ->; rewrite !conv0s.
case sv: (size v) => [|q].
  by move/size0nil: sv => ->; rewrite !convs0.
have sizes : size (conv a v) = (p + q).+1.
  by rewrite size_conv sa sv addSn addnS.
apply: (@eq_from_nth _ 0); first by rewrite size_rev sizes size_conv !size_rev sa sv addSn addnS.
move=> k; rewrite size_rev sizes => kN.
rewrite nth_rev ?sizes // !nth_conv_pairs !size_rev sa sv.
rewrite [RHS](reindex_inj rev_ord_inj); apply: eq_bigr => i _.
rewrite (reindex_inj rev_ord_inj); apply: eq_bigr => j _ /=.
have ip := ltn_ord i; have jq := ltn_ord j.
have ai : (rev a)`_(p.+1 - i.+1) = a`_i.
  rewrite nth_rev sa; last by nat_lia.
  by congr (a`_ _); nat_lia.
have vj : (rev v)`_j = v`_(q.+1 - j.+1) by rewrite nth_rev sv.
rewrite ai vj; congr (_ * _%:R).
by case: eqP => ?; case: eqP => ? //; exfalso; nat_lia.
Qed.

(** Theorem 2b, the reversal law: exchanging the arguments of a correlation reverses it. *)
Theorem corr_exchange a v : corr a v = rev (corr v a).
Proof. by rewrite !corr_conv_rev rev_conv revK conv_comm. Qed.

End Correlation.

(** Theorem 2c: correlation is not commutative (the shrunk counterexample of
    [src/laws/tests.rs]: [1] against [0, 1]) ... *)
Theorem corr_not_commutative :
  corr [:: 1] [:: 0; 1] <> corr [:: 0; 1] [:: 1] :> seq int.
Proof. by rewrite !corr_conv_rev -!conv_evalE; vm_compute; discriminate. Qed.

(** ... nor associative ([1], [1], [0, 1]: [1, 0] against [0, 1]). *)
Theorem corr_not_associative :
  corr (corr [:: 1] [:: 1]) [:: 0; 1] <> corr [:: 1] (corr [:: 1] [:: 0; 1]) :> seq int.
Proof. by rewrite !corr_conv_rev -!conv_evalE; vm_compute; discriminate. Qed.
