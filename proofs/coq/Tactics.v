(** * Tactics shared by the proofs *)

From Coq Require Import Lia.
From mathcomp Require Import all_ssreflect.

(** Linear arithmetic on naturals by the standard library's [lia], through the definitions of
    Mathematical Components' operations (boolean comparisons and their conjunctions in the
    hypotheses, and a comparison as the goal, become [le]/[lt] first). *)
Ltac nat_lia :=
  repeat match goal with
  | H : is_true (_ && _) |- _ => case/andP: H => ? ?
  | H : is_true (leq _ _) |- _ => move/leP: H => H
  end;
  try match goal with |- is_true (leq _ _) => apply/leP end;
  unfold addn, subn, muln, addn_rec, subn_rec, muln_rec in *; simpl in *; lia.
