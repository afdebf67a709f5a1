(** * The one-dimensional correlation layer and its transpose: adjoint for every size

    Mirrors [src/reference/conv.rs] ([correlate], one sample, one spatial dimension, zero
    padding) and [src/reference/transpose.rs] ([conv_transpose]) with PyTorch's index
    conventions: input channels [c = g C_in/G + c'], output channels [o = g C_out/G + o'].
    [x c p] is the input at channel [c], position [p < L]; [w o c' j] the weight; [y o i] an
    output-shaped tensor ([i < O]). *)

From mathcomp Require Import all_ssreflect all_algebra.
From Convspec Require Import Tactics Conv1D Corr1D.

Set Implicit Arguments.
Unset Strict Implicit.
Unset Printing Implicit Defensive.

Import GRing.Theory.
Local Open Scope ring_scope.

Section Layer.

Variable R : comRingType.
(** Groups, input and output channels per group, input length, kernel size, stride, dilation,
    padding before the input, output length. *)
Variables (G CinG CoutG L k s d pb O : nat).
Implicit Types (x y : nat -> nat -> R) (w : nat -> nat -> nat -> R).

(** The zero-padded input: [xpad[c, q] = x[c, q - p_b]] for [p_b <= q < p_b + L], else 0. *)
Definition xpad x c q : R := if (pb <= q < pb + L)%N then x c (q - pb)%N else 0.

(** [correlate]: [y[o, i] = sum_{c' < C_in/G} sum_{j < k} w[o, c', j]
    xpad[g(o) C_in/G + c', i s + j d]], with [g(o) = o / (C_out/G)]. *)
Definition layer x w o i : R :=
  \sum_(0 <= c < CinG) \sum_(0 <= j < k)
     w o c j * xpad x ((o %/ CoutG) * CinG + c)%N (i * s + j * d)%N.

(** [conv_transpose]: [z[c, p] = sum_{o' < C_out/G} sum_{j < k} sum_{i < O, i s + j d = p + p_b}
    w[g C_out/G + o', c mod C_in/G, j] y[g C_out/G + o', i]], with [g = c / (C_in/G)]. *)
Definition transposed y w c p : R :=
  \sum_(0 <= o < CoutG) \sum_(0 <= j < k) \sum_(0 <= i < O)
     (if (i * s + j * d == p + pb)%N
      then w ((c %/ CinG) * CoutG + o)%N (c %% CinG)%N j * y ((c %/ CinG) * CoutG + o)%N i
      else 0).

(** A sum over [t < G n] as [G] blocks of [n]. *)
Lemma sum_blocks n (F : nat -> R) :
  \sum_(0 <= t < G * n) F t = \sum_(0 <= g < G) \sum_(0 <= r < n) F (g * n + r)%N.
Proof.
elim: G => [|m IH]; first by rewrite mul0n !big_geq.
rewrite mulSnr (big_cat_nat _ _ _ (leq0n _) (leq_addr _ _)) /= IH big_nat_recr //=.
congr (_ + _); rewrite -{1}(add0n (m * n)%N) big_addn addKn; apply: eq_bigr => r _.
by rewrite addnC.
Qed.

(** The padded input as a sum over the input positions. *)
Lemma xpad_sum x c q :
  xpad x c q = \sum_(0 <= p < L) (if (q == p + pb)%N then x c p else 0).
Proof.
rewrite /xpad; case: ifP => [/andP[lo hi] | out].
  rewrite (bigD1_seq (q - pb)%N) ?iota_uniq //=; last by rewrite mem_iota add0n leq0n /=; nat_lia.
  rewrite subnK // eqxx big1 ?addr0 // => p ne.
  case: eqP => // e; exfalso; move: ne; rewrite e addnK eqxx //.
rewrite big1_seq // => p; rewrite mem_iota add0n subn0 => /andP[_ pL].
case: eqP => // e; exfalso; move: out; rewrite e => /negbT/negP; apply.
by rewrite leq_addl addnC ltn_add2l pL.
Qed.

(** Five nested sums in another order. *)
Lemma reorder_sums no ni nc nj np (F : nat -> nat -> nat -> nat -> nat -> R) :
  \sum_(0 <= o < no) \sum_(0 <= i < ni) \sum_(0 <= c < nc) \sum_(0 <= j < nj)
     \sum_(0 <= p < np) F o i c j p
  = \sum_(0 <= c < nc) \sum_(0 <= p < np) \sum_(0 <= o < no) \sum_(0 <= j < nj)
     \sum_(0 <= i < ni) F o i c j p.
Proof.
under eq_bigr => o _ do rewrite exchange_big.
rewrite exchange_big.
under eq_bigr => c _ do under eq_bigr => o _ do under eq_bigr => i _ do rewrite exchange_big.
under eq_bigr => c _ do under eq_bigr => o _ do rewrite exchange_big.
under eq_bigr => c _ do rewrite exchange_big.
by under eq_bigr => c _ do under eq_bigr => p _ do under eq_bigr => o _ do rewrite exchange_big.
Qed.

(** Theorem 5: the transposed convolution is the adjoint of the correlation layer, for every
    stride, dilation, padding, group count and size:
    [<y, correlate(x, w)> = <x, conv_transpose(y, w)>]. *)
Theorem transposed_is_adjoint x w y :
  \sum_(0 <= o < G * CoutG) \sum_(0 <= i < O) y o i * layer x w o i
  = \sum_(0 <= c < G * CinG) \sum_(0 <= p < L) x c p * transposed y w c p.
Proof.
pose E g c p o j i := if (i * s + j * d == p + pb)%N
  then y (g * CoutG + o)%N i * w (g * CoutG + o)%N c j * x (g * CinG + c)%N p else 0.
rewrite !sum_blocks; apply: eq_bigr => g _.
transitivity (\sum_(0 <= o < CoutG) \sum_(0 <= i < O) \sum_(0 <= c < CinG) \sum_(0 <= j < k)
                \sum_(0 <= p < L) E g c p o j i).
  apply: eq_big_nat => o /andP[_ oC]; apply: eq_bigr => i _.
  rewrite /layer divnMDl ?(divn_small oC) ?addn0; last by nat_lia.
  rewrite mulr_sumr; apply: eq_bigr => c _; rewrite mulr_sumr; apply: eq_bigr => j _.
  rewrite xpad_sum !mulr_sumr; apply: eq_bigr => p _.
  by rewrite /E; case: eqP => _; rewrite ?mulr0 // mulrA.
rewrite reorder_sums; apply: eq_big_nat => c /andP[_ cC]; apply: eq_bigr => p _.
rewrite /transposed divnMDl ?(divn_small cC) ?addn0; last by nat_lia.
rewrite modnMDl (modn_small cC) !mulr_sumr; apply: eq_bigr => o _.
rewrite mulr_sumr; apply: eq_bigr => j _; rewrite mulr_sumr; apply: eq_bigr => i _.
by rewrite /E; case: eqP => _; rewrite ?mulr0 // mulrC [_ * y _ _]mulrC.
Qed.

(** The weight gradient of [correlate] ([correlate_backward] in [src/reference/backward.rs]):
    [dL/dw[o, c', j] = sum_{i < O} g[o, i] xpad[g(o) C_in/G + c', i s + j d]]. *)
Definition weight_grad x y o c j : R :=
  \sum_(0 <= i < O) y o i * xpad x ((o %/ CoutG) * CinG + c)%N (i * s + j * d)%N.

(** Theorem 5, the gradients: the loss [L = <g, correlate(x, w)>] is linear in x and in w, so
    its gradients are the forms [transposed g w] ([transposed_is_adjoint]) and
    [weight_grad x g]: [L = <w, weight_grad x g>]. *)
Theorem weight_grad_is_the_gradient x w y :
  \sum_(0 <= o < G * CoutG) \sum_(0 <= i < O) y o i * layer x w o i
  = \sum_(0 <= o < G * CoutG) \sum_(0 <= c < CinG) \sum_(0 <= j < k) w o c j * weight_grad x y o c j.
Proof.
apply: eq_bigr => o _; rewrite /layer /weight_grad.
under eq_bigr => i _ do rewrite mulr_sumr.
rewrite exchange_big; apply: eq_bigr => c _.
under eq_bigr => i _ do rewrite mulr_sumr.
rewrite exchange_big; apply: eq_bigr => j _.
by rewrite mulr_sumr; apply: eq_bigr => i _; rewrite mulrCA.
Qed.

(** The layer with a bias, [y[o, i] = b[o] + ...], and its bias gradient
    [dL/db[o] = sum_{i < O} g[o, i]]: the loss is [<g, layer> + <b, bias_grad g>]. *)
Definition layer_bias x w (b : nat -> R) o i : R := b o + layer x w o i.

Definition bias_grad y o : R := \sum_(0 <= i < O) y o i.

Theorem bias_grad_is_the_gradient x w b y :
  \sum_(0 <= o < G * CoutG) \sum_(0 <= i < O) y o i * layer_bias x w b o i
  = \sum_(0 <= o < G * CoutG) \sum_(0 <= i < O) y o i * layer x w o i
    + \sum_(0 <= o < G * CoutG) b o * bias_grad y o.
Proof.
rewrite -big_split; apply: eq_bigr => o _; rewrite /bias_grad mulr_sumr -big_split.
by apply: eq_bigr => i _; rewrite /layer_bias mulrDr addrC /= [b o * _]mulrC.
Qed.

(** [layer] and [transposed] with their sums as folds, for evaluation; proved equal. *)
Definition layer_eval x w o i : R :=
  sum_upto CinG (fun c => sum_upto k (fun j =>
     w o c j * xpad x ((o %/ CoutG) * CinG + c)%N (i * s + j * d)%N)).

Lemma layer_evalE x w o i : layer_eval x w o i = layer x w o i.
Proof. by rewrite /layer_eval sum_uptoE; apply: eq_bigr => c _; rewrite sum_uptoE. Qed.

Definition transposed_eval y w c p : R :=
  sum_upto CoutG (fun o => sum_upto k (fun j => sum_upto O (fun i =>
     if (i * s + j * d == p + pb)%N
     then w ((c %/ CinG) * CoutG + o)%N (c %% CinG)%N j * y ((c %/ CinG) * CoutG + o)%N i
     else 0))).

Lemma transposed_evalE y w c p : transposed_eval y w c p = transposed y w c p.
Proof.
rewrite /transposed_eval sum_uptoE; apply: eq_bigr => o _.
by rewrite sum_uptoE; apply: eq_bigr => j _; rewrite sum_uptoE.
Qed.

Definition weight_grad_eval x y o c j : R :=
  sum_upto O (fun i => y o i * xpad x ((o %/ CoutG) * CinG + c)%N (i * s + j * d)%N).

Lemma weight_grad_evalE x y o c j : weight_grad_eval x y o c j = weight_grad x y o c j.
Proof. by rewrite /weight_grad_eval sum_uptoE. Qed.

Definition bias_grad_eval y o : R := sum_upto O (fun i => y o i).

Lemma bias_grad_evalE y o : bias_grad_eval y o = bias_grad y o.
Proof. by rewrite /bias_grad_eval sum_uptoE. Qed.

End Layer.
