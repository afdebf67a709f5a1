(** * The output-size formula, for every size

    Mirrors [DimGeometry::output_size] in [src/geometry/mod.rs]: with the padded length
    [P = L + p_b + p_e] and the dilated kernel's span [d (k - 1) + 1] ([effective_kernel]),
    [O = floor((P - span) / s) + 1] when [span <= P] (otherwise the Rust code refuses the
    layer). Output [i] reads the padded positions [i s + j d], [j < k]; the theorems say these
    are all inside [0, P) exactly for [i < O], so [O] counts the valid window positions. *)

From mathcomp Require Import all_ssreflect.
From Convspec Require Import Tactics.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

(** [effective_kernel(k, d)]: the window covers [d (k - 1) + 1] positions. *)
Definition span k d := (d * k.-1).+1.

(** [DimGeometry::output_size] for [span <= P]. *)
Definition output_size P k s d := ((P - span k d) %/ s).+1.

(** Output [i]'s window, [i s + j d] for [j < k], lies inside [0, P). *)
Definition window_inside P k s d i := [forall j : 'I_k, i * s + j * d < P].

(** The last tap is the furthest: the window is inside exactly when [i s + span <= P]
    (for [k >= 1]). *)
Lemma window_insideE P k s d i :
  0 < k -> window_inside P k s d i = (i * s + span k d <= P).
Proof.
case: k => // k _; apply/forallP/idP => [inside | last j].
  by move: (inside ord_max); rewrite /span addnS [(d * _)%N]mulnC.
apply: leq_trans last; rewrite /span addnS ltnS leq_add2l [(d * _)%N]mulnC leq_mul2r.
by rewrite -ltnS ltn_ord orbT.
Qed.

(** Theorem 3: output [i] is a valid window position exactly when [i < O]. *)
Theorem valid_windows_are_the_outputs P k s d i :
  0 < k -> 0 < s -> span k d <= P ->
  window_inside P k s d i = (i < output_size P k s d).
Proof.
move=> pk ps fits; rewrite window_insideE // /output_size ltnS leq_divRL //.
by rewrite (leq_subRL _ fits) addnC.
Qed.

(** Hence [O] counts them: among the first [M >= O] positions exactly [O] are valid. *)
Lemma count_ltn_iota n M : n <= M -> count (fun i => i < n) (iota 0 M) = n.
Proof.
move=> le; rewrite -(subnKC le) iotaD count_cat add0n.
rewrite (@eq_in_count _ _ predT) ?count_predT ?size_iota; last first.
  by move=> i; rewrite mem_iota add0n.
rewrite (@eq_in_count _ _ pred0) ?count_pred0 ?addn0 // => i.
by rewrite mem_iota => /andP[ni _]; rewrite ltnNge ni.
Qed.

Theorem output_size_counts_windows P k s d M :
  0 < k -> 0 < s -> span k d <= P -> output_size P k s d <= M ->
  count (window_inside P k s d) (iota 0 M) = output_size P k s d.
Proof.
move=> pk ps fits le; rewrite -[RHS](count_ltn_iota le).
by apply: eq_count => i; rewrite valid_windows_are_the_outputs.
Qed.

(** When the span exceeds [P] (the Rust code's [KernelLargerThanPaddedInput]), no position is
    valid. *)
Theorem no_window_when_the_kernel_is_larger P k s d i :
  0 < k -> P < span k d -> window_inside P k s d i = false.
Proof.
move=> pk big; rewrite window_insideE //; apply/negbTE; rewrite -ltnNge.
exact: leq_trans big (leq_addl _ _).
Qed.

(** [window_inside] with its quantifier as a fold over [0, k), for evaluation (finite types'
    enumerations are locked); proved equal. *)
Definition window_inside_eval P k s d i := all (fun j => i * s + j * d < P) (iota 0 k).

Lemma window_inside_evalE P k s d i : window_inside_eval P k s d i = window_inside P k s d i.
Proof.
apply/allP/forallP => [inside j | inside j].
  by apply: inside; rewrite mem_iota add0n ltn_ord.
by rewrite mem_iota add0n => /andP[_ jk]; exact: (inside (Ordinal jk)).
Qed.

(** Z4: the transposed convolution with the same stride, dilation and padding and output
    padding [a = (P - span) mod s] maps the correlation's output size back to [L]
    ([TransposeGeometry] in [src/geometry/transpose.rs]:
    [O_T = (O - 1) s + d (k - 1) + 1 + a - p_b - p_e]). *)
Definition transpose_size O k s d a pb pe := ((O.-1) * s + span k d + a - pb - pe)%N.

Theorem transpose_inverts_size L pb pe k s d :
  span k d <= L + pb + pe ->
  transpose_size (output_size (L + pb + pe) k s d) k s d ((L + pb + pe - span k d) %% s) pb pe = L.
Proof.
move=> fits; rewrite /transpose_size /output_size /=.
rewrite addnAC -divn_eq subnK //.
by rewrite addnAC addnK addnK.
Qed.

(** Z5: the parameter count [C_out (C_in/G) k + [bias] C_out] of a 1-D layer is the number of
    entries of its weight [(C_out, C_in/G, k)] and bias [(C_out)]
    ([geometry::parameter_count]) ... *)
Definition parameter_count cout cin_per_group k (bias : bool) :=
  (cout * cin_per_group * k + (if bias then cout else 0))%N.

Theorem parameter_count_counts_entries cout cin_per_group k (bias : bool) :
  #|{: 'I_cout * 'I_cin_per_group * 'I_k}| + #|{: 'I_(if bias then cout else 0)}|
  = parameter_count cout cin_per_group k bias.
Proof. by rewrite !card_prod !card_ord. Qed.

(** ... and the seed's formula [K C_in C_out + C_out] counts [G] times the weights of a grouped
    layer ([C_in = G C_in/G]). *)
Theorem seed_parameter_formula_counts_groups_times cout G cin_per_group k :
  (k * (G * cin_per_group) * cout + cout = G * (cout * cin_per_group * k) + cout)%N.
Proof. by congr (_ + _); rewrite mulnCA -mulnA; congr (_ * _); rewrite [LHS]mulnC mulnCA [RHS]mulnC. Qed.

(** Z2: the pooling output size in ceil mode ([pool_output_size] in [src/geometry/pool.rs],
    PyTorch's [pooling_output_shape]): [O = ceil((P - span) / s) + 1], minus 1 when the last
    window would start at or past [L + p_b]. *)
Definition ceil_output_size L pb pe k s d :=
  let c := ((L + pb + pe - span k d + s.-1) %/ s)%N in
  if (L + pb <= c * s)%N then c else c.+1.

(** With the padding below the span (PyTorch's limit [p <= k / 2] ensures it), output [i]
    exists in ceil mode exactly when its window starts before [P - span + s] (it reaches into
    the padded input, rounding up) and inside the input or the left padding. *)
Theorem ceil_mode_windows L pb pe k s d i :
  0 < s -> span k d <= L + pb + pe -> pe < span k d ->
  (i < ceil_output_size L pb pe k s d)
  = (i * s + span k d < L + pb + pe + s) && (i * s < L + pb).
Proof.
case: s => [//|s] _; rewrite /ceil_output_size.
move: (span k d) => sp fits small.
set R := (L + pb + pe - sp)%N; set c := ((R + s.+1.-1) %/ s.+1)%N.
have A : (i <= c) = (i * s.+1 + sp < L + pb + pe + s.+1).
  rewrite /c leq_divRL // /R; move: (i * s.+1)%N => t.
  by apply/idP/idP => /leP H; apply/leP; nat_lia.
have B : (i < c) -> (i * s.+1 < L + pb).
  rewrite /c -[(i < _)%N]/(i.+1 <= _)%N leq_divRL // mulSn /R.
  by move: (i * s.+1)%N => t H; nat_lia.
case: ifP => [late | early].
  apply/idP/andP => [ic | [a b]].
    by split; [rewrite -A ltnW | exact: B].
  rewrite ltn_neqAle A a andbT; apply/eqP => ic.
  by move: late; rewrite -ic leqNgt b.
rewrite ltnS A; apply/idP/andP => [a | [a _]] //; split=> //.
have ic : (i <= c)%N by rewrite A.
have tu : (i * s.+1 <= c * s.+1)%N by rewrite leq_mul2r ic orbT.
move/negbT: early; rewrite -ltnNge.
by move: (i * s.+1)%N (c * s.+1)%N tu => t u tu early; nat_lia.
Qed.
