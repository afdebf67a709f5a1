(** * One-dimensional correlation, for every length

    [corr a v] mirrors [src/reference/numpy.rs]: [np_correlate(a, v, Mode::Full)] is NumPy's
    [core(a, v)] with [n_left = n - 1], [c[k] = sum_{j < n} a[k - (n - 1) + j] * v[j]] (a read
    as zero outside its range; n = len v), for [k < len a + len v - 1]. *)

From mathcomp Require Import all_ssreflect all_algebra.
From Convspec Require Import Conv1D.

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
