(** * The bridge to the Rust code

    Coq evaluates its definitions on the cases of [BridgeCases.v] (integers) and writes the
    results to [tests/fixtures/coq/]; the Rust test [tests/coq_bridge.rs] checks them against
    the reference engine ([src/reference/]). Each evaluated function is proved equal to the
    definition the theorems are about ([conv_evalE]). [make -C proofs/coq] regenerates the
    files; CI fails when they differ from the committed ones. *)

From Coq Require Import ZArith.
From mathcomp Require Import all_ssreflect all_algebra.
From Convspec Require Import Conv1D Conv2D Corr1D Sizes Layer1D BridgeCases.

Import GRing.Theory.
Local Open Scope ring_scope.

Definition Z_of_int (i : int) : Z :=
  match i with Posz n => Z.of_nat n | Negz n => Z.neg (Pos.of_succ_nat n) end.

Definition int_of_Z (z : Z) : int :=
  match z with Z0 => 0 | Zpos p => Posz (Pos.to_nat p) | Zneg p => Negz (Pos.to_nat p).-1 end.

Lemma int_of_ZK : cancel Z_of_int int_of_Z.
Proof. by case=> n //=; rewrite ?SuccNat2Pos.id_succ //; case: n => //= n; rewrite SuccNat2Pos.id_succ. Qed.

(** [np_convolve(a, v, 'full')] on each case: (a, v, y). *)
Definition conv1d_results :=
  map (fun c => (c.1, c.2, map Z_of_int (conv_eval (map int_of_Z c.1) (map int_of_Z c.2))))
    conv1d_cases.

Redirect "../../tests/fixtures/coq/conv1d" Eval vm_compute in conv1d_results.

(** [corr] evaluated through [corr_conv_rev] and [conv_evalE]. *)
Definition corr_eval (a v : seq int) := conv_eval a (rev v).

Lemma corr_evalE (a v : seq int) : corr_eval a v = corr a v.
Proof. by rewrite /corr_eval conv_evalE corr_conv_rev. Qed.

(** [np_correlate(a, v, 'full')] on the same cases: (a, v, c). NumPy swaps the arguments when
    [len v > len a] and reverses the result; [corr_exchange] proves that this changes nothing in
    full mode, and the Rust test compares every case, swapped or not. *)
Definition corr1d_results :=
  map (fun c => (c.1, c.2, map Z_of_int (corr_eval (map int_of_Z c.1) (map int_of_Z c.2))))
    conv1d_cases.

Redirect "../../tests/fixtures/coq/corr1d" Eval vm_compute in corr1d_results.

(** [DimGeometry::output_size] on each case, and the number of valid window positions among
    the first 40 counted one by one ([window_inside_evalE]): (L, p_b, p_e, k, s, d, O,
    count). *)
Definition size_results :=
  map (fun c => let: (L, pb, pe, k, s, d) := c in
                let P := (L + pb + pe)%N in
                (L, pb, pe, k, s, d, output_size P k s d,
                 count (window_inside_eval P k s d) (iota 0 40)))
    size_cases.

Redirect "../../tests/fixtures/coq/sizes" Eval vm_compute in size_results.

(** Pooling output sizes in ceil mode ([ceil_mode_windows]): (L, p_b, p_e, k, s, d, O, count
    of the positions [i < 40] whose window starts before [P - span + s] and before [L + p_b]). *)
Definition pool_results :=
  map (fun c => let: (L, pb, pe, k, s, d) := c in
                (L, pb, pe, k, s, d, ceil_output_size L pb pe k s d,
                 count (fun i => ((i * s + span k d < L + pb + pe + s) && (i * s < L + pb))%N)
                   (iota 0 40)))
    pool_cases.

Redirect "../../tests/fixtures/coq/pool_sizes" Eval vm_compute in pool_results.

(** The correlation layer, its transpose and its weight and bias gradients ([layer_evalE],
    [transposed_evalE], [weight_grad_evalE], [bias_grad_evalE]) on each case: (G, C_in/G, C_out/G, L, k, s, d,
    p_b, p_e, x, w, y, layer x w, transposed y w, weight_grad x y, bias_grad y), as (C_out, O),
    (C_in, L), (C_out, C_in/G, k) and (C_out) arrays with [O = output_size]. *)
Definition at2 (t : seq (seq Z)) c p : int := int_of_Z (nth Z0 (nth [::] t c) p).
Definition at3 (t : seq (seq (seq Z))) o c j : int :=
  int_of_Z (nth Z0 (nth [::] (nth [::] t o) c) j).

Definition layer_results :=
  map (fun c =>
    let: (G, cin, cout, L, k, s, d, pb, pe, x, w, y) := c in
    let O := output_size (L + pb + pe) k s d in
    (c,
     mkseq (fun o => mkseq (fun i =>
       Z_of_int (layer_eval cin cout L k s d pb (at2 x) (at3 w) o i)) O) (G * cout),
     mkseq (fun ch => mkseq (fun p =>
       Z_of_int (transposed_eval cin cout k s d pb O (at2 y) (at3 w) ch p)) L) (G * cin),
     mkseq (fun o => mkseq (fun ch => mkseq (fun j =>
       Z_of_int (weight_grad_eval cin cout L s d pb O (at2 x) (at2 y) o ch j)) k) cin)
       (G * cout),
     mkseq (fun o => Z_of_int (bias_grad_eval O (at2 y) o)) (G * cout)))
    layer_cases.

Redirect "../../tests/fixtures/coq/layer1d" Eval vm_compute in layer_results.

(** The full 2-D convolution ([conv2_evalE]) on each case: (H_x, W_x, x, H_w, W_w, w, y), y of
    shape (H_x + H_w - 1, W_x + W_w - 1). *)
Definition conv2d_results :=
  map (fun c =>
    let: (hx, wx, x, hw, ww, w) := c in
    (c, mkseq (fun i => mkseq (fun j =>
          Z_of_int (conv2_eval hx wx (at2 x) hw ww (at2 w) i j)) (wx + ww).-1) (hx + hw).-1))
    conv2d_cases.

Redirect "../../tests/fixtures/coq/conv2d" Eval vm_compute in conv2d_results.
