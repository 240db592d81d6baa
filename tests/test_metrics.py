"""Tests for lifelong.evaluation.metrics against hand-computed values.

Convention (0-based): R[i, j] = accuracy on task j after training on task i.
Every expected number below is worked out by hand in a comment.
"""

import json

import numpy as np
import pytest

from lifelong.evaluation import metrics as M
from lifelong.evaluation import summaries as S

# A 3-task run used by most tests.
#            task0 task1 task2
R3 = [
    [0.9, 0.1, 0.2],  # after training on task 0
    [0.8, 0.8, 0.3],  # after training on task 1
    [0.5, 0.7, 0.6],  # after training on task 2
]
# accuracy of the randomly initialised model on each task
B3 = [0.1, 0.05, 0.1]

# Non-monotone run: task 0 goes 0.9 -> 0.95 -> 0.6.
R_NONMONO = [
    [0.9, 0.0, 0.0],
    [0.95, 0.8, 0.0],
    [0.6, 0.8, 0.7],
]


def _walk_types(value):
    """Yield every leaf of a (possibly nested) summary dict."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk_types(v)
    else:
        yield value


# ---------------------------------------------------------------- GEM: ACC


def test_acc_is_last_row_mean():
    # ACC = (0.5 + 0.7 + 0.6) / 3 = 0.6
    assert M.acc(R3) == pytest.approx(0.6)


def test_acc_uses_last_row_not_diagonal():
    # diagonal mean would be (0.9 + 0.8 + 0.6) / 3 = 0.7667; last row gives 0.6
    assert M.acc(R3) != pytest.approx((0.9 + 0.8 + 0.6) / 3)


# ---------------------------------------------------------------- GEM: BWT


def test_bwt_hand_computed():
    # BWT = ((0.5 - 0.9) + (0.7 - 0.8)) / 2 = (-0.4 - 0.1) / 2 = -0.25
    assert M.bwt(R3) == pytest.approx(-0.25)


def test_bwt_uses_paper_denominator_t_minus_1():
    # The GEM repository's code divides by T: -0.5 / 3 = -0.1667.
    # The paper divides by T - 1 = 2: -0.5 / 2 = -0.25.
    value = M.bwt(R3)
    assert value == pytest.approx(-0.5 / 2)
    assert value != pytest.approx(-0.5 / 3)


def test_bwt_positive_when_old_tasks_improve():
    # R = [[0.5, 0.0], [0.7, 0.6]]: BWT = (0.7 - 0.5) / 1 = 0.2
    assert M.bwt([[0.5, 0.0], [0.7, 0.6]]) == pytest.approx(0.2)


# ---------------------------------------------------------------- GEM: FWT


def test_fwt_hand_computed():
    # FWT = ((R[0,1] - b[1]) + (R[1,2] - b[2])) / 2
    #     = ((0.1 - 0.05) + (0.3 - 0.1)) / 2 = (0.05 + 0.2) / 2 = 0.125
    assert M.fwt(R3, B3) == pytest.approx(0.125)


def test_fwt_uses_paper_denominator_t_minus_1():
    # With T in the denominator (GEM code) it would be 0.25 / 3 = 0.0833.
    value = M.fwt(R3, B3)
    assert value == pytest.approx(0.25 / 2)
    assert value != pytest.approx(0.25 / 3)


def test_fwt_ignores_b0_and_uses_superdiagonal():
    # b[0] never enters; changing it leaves FWT at 0.125.
    assert M.fwt(R3, [0.9, 0.05, 0.1]) == pytest.approx(0.125)
    # Changing R[0, 2] (not on the super-diagonal) leaves it too.
    r = np.array(R3)
    r[0, 2] = 1.0
    assert M.fwt(r, B3) == pytest.approx(0.125)
    # Changing R[0, 1] (on the super-diagonal) moves it:
    # ((0.5 - 0.05) + (0.3 - 0.1)) / 2 = (0.45 + 0.2) / 2 = 0.325
    r[0, 1] = 0.5
    assert M.fwt(r, B3) == pytest.approx(0.325)


# ---------------------------------------------------------------- forgetting


def test_forgetting_max_based_last_row():
    # k = 2: f[2,0] = max(0.9, 0.8) - 0.5 = 0.4
    #        f[2,1] = max(0.1, 0.8) - 0.7 = 0.1
    # F_2 = (0.4 + 0.1) / 2 = 0.25
    assert M.forgetting(R3) == pytest.approx(0.25)
    assert M.forgetting(R3, k=2) == pytest.approx(0.25)


def test_forgetting_middle_row():
    # k = 1: f[1,0] = 0.9 - 0.8 = 0.1 -> F_1 = 0.1
    assert M.forgetting(R3, k=1) == pytest.approx(0.1)


def test_forgetting_first_based_monotone_case_matches_max_based():
    # k = 2: ((0.9 - 0.5) + (0.8 - 0.7)) / 2 = 0.25 (accuracies never rose)
    assert M.forgetting_first_based(R3) == pytest.approx(0.25)
    # k = 1: 0.9 - 0.8 = 0.1
    assert M.forgetting_first_based(R3, k=1) == pytest.approx(0.1)


def test_forgetting_non_monotone_max_vs_first_based():
    # Task 0: 0.9 after task 0, 0.95 after task 1, 0.6 after task 2.
    # Per-task forgetting of task 0 at k = 2:
    #   max-based   = max(0.9, 0.95) - 0.6 = 0.35
    #   first-based = 0.9 - 0.6           = 0.30
    # Task 1: 0.8 after task 1, 0.8 after task 2 -> 0 for both.
    # Averages over j < 2:
    #   max-based   = (0.35 + 0.0) / 2 = 0.175
    #   first-based = (0.30 + 0.0) / 2 = 0.15
    assert M.forgetting(R_NONMONO) == pytest.approx(0.175)
    assert M.forgetting_first_based(R_NONMONO) == pytest.approx(0.15)


def test_forgetting_can_be_negative():
    # k = 1, only task 0 counts and it improved 0.9 -> 0.95:
    #   max-based   = max(0.9) - 0.95 = -0.05
    #   first-based = 0.9 - 0.95      = -0.05
    assert M.forgetting(R_NONMONO, k=1) == pytest.approx(-0.05)
    assert M.forgetting_first_based(R_NONMONO, k=1) == pytest.approx(-0.05)


def test_forgetting_max_runs_over_all_earlier_rows():
    # Chaudhry et al. take max over l in 1..k-1, including rows before task j
    # was trained.  Task 1 is at 0.9 before its training (row 0), 0.5 after.
    R = [
        [0.9, 0.9, 0.0],
        [0.9, 0.5, 0.0],
        [0.9, 0.5, 0.5],
    ]
    # k = 2: f[2,0] = 0.9 - 0.9 = 0;  f[2,1] = max(0.9, 0.5) - 0.5 = 0.4
    # F_2 = (0 + 0.4) / 2 = 0.2   (first-based: (0 + 0) / 2 = 0)
    assert M.forgetting(R) == pytest.approx(0.2)
    assert M.forgetting_first_based(R) == pytest.approx(0.0)


def test_forgetting_k_zero_is_none():
    assert M.forgetting(R3, k=0) is None
    assert M.forgetting_first_based(R3, k=0) is None


@pytest.mark.parametrize("k", [3, -1, 1.0, True])
def test_forgetting_bad_k_raises(k):
    with pytest.raises(ValueError, match="k"):
        M.forgetting(R3, k=k)
    with pytest.raises(ValueError, match="k"):
        M.forgetting_first_based(R3, k=k)


def test_forgetting_accepts_numpy_integer_k():
    assert M.forgetting(R3, k=np.int64(1)) == pytest.approx(0.1)


# ---------------------------------------------------------------- intransigence


def test_intransigence_hand_computed():
    # I_k = joint[k] - R[k,k]:
    #   [0.95 - 0.9, 0.9 - 0.8, 0.8 - 0.6] = [0.05, 0.1, 0.2]
    result = M.intransigence(R3, [0.95, 0.9, 0.8])
    assert isinstance(result, list)
    assert result == pytest.approx([0.05, 0.1, 0.2])
    assert all(type(x) is float for x in result)


def test_intransigence_wrong_length_raises():
    with pytest.raises(ValueError, match="joint"):
        M.intransigence(R3, [0.9, 0.9])


# ---------------------------------------------------------------- LCA


CURVES = [
    # b=0   b=1   b=2   b=3
    [0.1, 0.4, 0.6, 0.9],  # task 0
    [0.3, 0.5, 0.8, 1.0],  # task 1
]


def test_lca_beta_2_hand_computed():
    # Z_0 = (0.1 + 0.3) / 2 = 0.2
    # Z_1 = (0.4 + 0.5) / 2 = 0.45
    # Z_2 = (0.6 + 0.8) / 2 = 0.7
    # LCA_2 = (0.2 + 0.45 + 0.7) / 3 = 1.35 / 3 = 0.45
    # (using the extra column b=3 too would give (1.35 + 0.95) / 4 = 0.575)
    assert M.lca(CURVES, beta=2) == pytest.approx(0.45)


def test_lca_beta_0_is_zero_shot_accuracy():
    # LCA_0 = Z_0 = 0.2
    assert M.lca(CURVES, beta=0) == pytest.approx(0.2)


def test_lca_too_few_columns_raises():
    # beta = 2 needs 3 columns (b = 0, 1, 2); give only 2.
    with pytest.raises(ValueError, match="columns"):
        M.lca([[0.1, 0.4], [0.3, 0.5]], beta=2)


def test_lca_default_beta_needs_11_columns():
    with pytest.raises(ValueError, match="11"):
        M.lca(CURVES)
    # 11 columns of a constant 0.5 -> LCA_10 = 0.5
    assert M.lca(np.full((2, 11), 0.5)) == pytest.approx(0.5)


@pytest.mark.parametrize("beta", [-1, 1.5])
def test_lca_bad_beta_raises(beta):
    with pytest.raises(ValueError, match="beta"):
        M.lca(CURVES, beta=beta)


def test_lca_non_2d_raises():
    with pytest.raises(ValueError, match="2-D"):
        M.lca([0.1, 0.2, 0.3], beta=2)


# ---------------------------------------------------------------- Díaz-Rodríguez


def test_diaz_rodriguez_hand_computed():
    # A   = (0.9 + 0.8 + 0.8 + 0.5 + 0.7 + 0.6) / (3*4/2) = 4.3 / 6 = 0.716667
    # BWT = ((0.8-0.9) + (0.5-0.9) + (0.7-0.8)) / (3*2/2) = -0.6 / 3 = -0.2
    # REM = 1 - |min(-0.2, 0)| = 0.8
    # BWT+ = max(-0.2, 0) = 0
    # FWT = (0.1 + 0.2 + 0.3) / 3 = 0.2
    # MS  = min(1, (100/100 + 100/200 + 100/400) / 3) = 1.75 / 3 = 0.583333
    d = M.diaz_rodriguez(R3, model_sizes=[100, 200, 400])
    assert set(d) == {"a", "bwt", "rem", "bwt_plus", "fwt", "ms"}
    assert d["a"] == pytest.approx(4.3 / 6)
    assert d["bwt"] == pytest.approx(-0.2)
    assert d["rem"] == pytest.approx(0.8)
    assert d["bwt_plus"] == pytest.approx(0.0)
    assert d["fwt"] == pytest.approx(0.2)
    assert d["ms"] == pytest.approx(1.75 / 3)


def test_diaz_rodriguez_bwt_differs_from_gem_bwt():
    # Same matrix: GEM BWT (last row only) = -0.25, Díaz-Rodríguez (all rows) = -0.2
    assert M.bwt(R3) == pytest.approx(-0.25)
    assert M.diaz_rodriguez(R3)["bwt"] == pytest.approx(-0.2)


def test_diaz_rodriguez_positive_bwt():
    # R = [[0.5, 0.0], [0.7, 0.6]]
    # A    = (0.5 + 0.7 + 0.6) / 3 = 0.6
    # BWT  = (0.7 - 0.5) / 1 = 0.2  ->  REM = 1 - 0 = 1.0,  BWT+ = 0.2
    # FWT  = 0.0 / 1 = 0.0
    d = M.diaz_rodriguez([[0.5, 0.0], [0.7, 0.6]])
    assert d["a"] == pytest.approx(0.6)
    assert d["bwt"] == pytest.approx(0.2)
    assert d["rem"] == pytest.approx(1.0)
    assert d["bwt_plus"] == pytest.approx(0.2)
    assert d["fwt"] == pytest.approx(0.0)
    assert d["ms"] is None


def test_diaz_rodriguez_ms_capped_at_one():
    # (100/100 + 100/50 + 100/100) / 3 = 4 / 3 > 1  ->  MS = 1.0
    assert M.diaz_rodriguez(R3, model_sizes=[100, 50, 100])["ms"] == pytest.approx(1.0)


def test_diaz_rodriguez_model_sizes_validation():
    with pytest.raises(ValueError, match="model_sizes"):
        M.diaz_rodriguez(R3, model_sizes=[100, 200])
    with pytest.raises(ValueError, match="model_sizes"):
        M.diaz_rodriguez(R3, model_sizes=[100, 0, 200])


# ---------------------------------------------------------------- summary


def test_summary_with_fwt():
    s = S.classification_summary(R3, B3, model_sizes=[100, 200, 400])
    assert set(s) == {"acc", "bwt", "fwt", "forgetting", "forgetting_first_based", "diaz_rodriguez"}
    assert s["acc"] == pytest.approx(0.6)
    assert s["bwt"] == pytest.approx(-0.25)
    assert s["fwt"] == pytest.approx(0.125)
    assert s["forgetting"] == pytest.approx(0.25)
    assert s["forgetting_first_based"] == pytest.approx(0.25)
    assert s["diaz_rodriguez"]["fwt"] == pytest.approx(0.2)
    assert s["diaz_rodriguez"]["ms"] == pytest.approx(1.75 / 3)


def test_summary_fwt_not_applicable():
    s = S.classification_summary(R_NONMONO, B3, fwt_applicable=False)
    assert s["fwt"] is None
    assert s["diaz_rodriguez"]["fwt"] is None
    # everything else is still a number:
    # ACC = (0.6 + 0.8 + 0.7) / 3 = 0.7
    # BWT = ((0.6 - 0.9) + (0.8 - 0.8)) / 2 = -0.15
    # forgetting: 0.175 max-based, 0.15 first-based (see above)
    # D-R A = (0.9 + 0.95 + 0.8 + 0.6 + 0.8 + 0.7) / 6 = 4.75 / 6
    # D-R BWT = ((0.95-0.9) + (0.6-0.9) + (0.8-0.8)) / 3 = -0.25 / 3
    assert s["acc"] == pytest.approx(0.7)
    assert s["bwt"] == pytest.approx(-0.15)
    assert s["forgetting"] == pytest.approx(0.175)
    assert s["forgetting_first_based"] == pytest.approx(0.15)
    assert s["diaz_rodriguez"]["a"] == pytest.approx(4.75 / 6)
    assert s["diaz_rodriguez"]["bwt"] == pytest.approx(-0.25 / 3)
    assert s["diaz_rodriguez"]["rem"] == pytest.approx(1 - 0.25 / 3)
    assert s["diaz_rodriguez"]["bwt_plus"] == pytest.approx(0.0)


def test_summary_fwt_not_applicable_allows_missing_b():
    s = S.classification_summary(R3, None, fwt_applicable=False)
    assert s["fwt"] is None
    assert s["acc"] == pytest.approx(0.6)


def test_summary_requires_b_when_fwt_applicable():
    with pytest.raises(ValueError, match="b"):
        S.classification_summary(R3, None)


def test_summary_values_are_plain_python_and_json_serialisable():
    s = S.classification_summary(np.array(R3), np.array(B3), model_sizes=np.array([100, 200, 400]))
    for leaf in _walk_types(s):
        # np.float64 subclasses float, so check the exact type.
        assert leaf is None or type(leaf) is float, repr(leaf)
    round_trip = json.loads(json.dumps(s))
    assert round_trip["bwt"] == pytest.approx(-0.25)


# ---------------------------------------------------------------- T = 1


def test_single_task_edge_cases():
    R = [[0.7]]
    b = [0.1]
    assert M.acc(R) == pytest.approx(0.7)
    assert M.bwt(R) is None
    assert M.fwt(R, b) is None
    assert M.forgetting(R) is None
    assert M.forgetting_first_based(R) is None
    # I_0 = 0.75 - 0.7 = 0.05
    assert M.intransigence(R, [0.75]) == pytest.approx([0.05])
    d = M.diaz_rodriguez(R, model_sizes=[10])
    # A = 0.7 / (1*2/2) = 0.7; MS = min(1, 10/10) = 1
    assert d["a"] == pytest.approx(0.7)
    assert d["ms"] == pytest.approx(1.0)
    assert d["bwt"] is None and d["rem"] is None and d["bwt_plus"] is None and d["fwt"] is None
    s = S.classification_summary(R, b)
    assert s["acc"] == pytest.approx(0.7)
    assert s["bwt"] is None and s["fwt"] is None
    assert s["forgetting"] is None and s["forgetting_first_based"] is None
    json.dumps(s)


# ---------------------------------------------------------------- inputs


def test_scalar_results_are_python_floats():
    assert type(M.acc(np.array(R3))) is float
    assert type(M.bwt(np.array(R3))) is float
    assert type(M.fwt(np.array(R3), np.array(B3))) is float
    assert type(M.forgetting(np.array(R3))) is float
    assert type(M.forgetting_first_based(np.array(R3))) is float
    assert type(M.lca(np.array(CURVES), beta=2)) is float


def test_inputs_not_mutated():
    r = np.array(R3)
    before = r.copy()
    S.classification_summary(r, B3)
    np.testing.assert_array_equal(r, before)


def test_non_square_R_raises():
    with pytest.raises(ValueError, match="square"):
        M.acc([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    with pytest.raises(ValueError, match="square"):
        S.classification_summary([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], [0.1, 0.1])


def test_non_2d_R_raises():
    with pytest.raises(ValueError, match="2-D"):
        M.bwt([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="2-D"):
        M.forgetting(np.zeros((2, 2, 2)))


def test_empty_R_raises():
    with pytest.raises(ValueError, match="at least one task"):
        M.acc(np.zeros((0, 0)))


def test_wrong_length_b_raises():
    with pytest.raises(ValueError, match="b must have length T=3"):
        M.fwt(R3, [0.1, 0.1])
    with pytest.raises(ValueError, match="b must have length T=3"):
        S.classification_summary(R3, [0.1, 0.1, 0.1, 0.1])
    with pytest.raises(ValueError, match="1-D"):
        M.fwt(R3, [[0.1, 0.1, 0.1]])


def test_percentages_and_nan_rejected():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.acc([[90.0, 10.0], [80.0, 85.0]])
    with pytest.raises(ValueError, match="finite"):
        M.acc([[0.9, float("inf")], [0.8, 0.85]])
    with pytest.raises(ValueError, match="the last row must be measured"):
        M.acc([[0.9, 0.1], [float("nan"), 0.85]])
    with pytest.raises(ValueError, match="finite"):
        M.lca([[0.9, float("nan")]], beta=1)  # only a score matrix may leave entries unmeasured


# Rows measured whole every 2 tasks (``matrix_every: 2``): rows 0 and 2 hold only R[i, i] and R[i, i+1].
NAN = float("nan")
R_FULL = np.array([[0.9, 0.1, 0.2, 0.1],
                   [0.7, 0.8, 0.1, 0.2],
                   [0.5, 0.6, 0.9, 0.3],
                   [0.6, 0.5, 0.7, 0.95]])
R_PART = np.array([[0.9, 0.1, NAN, NAN],
                   [0.7, 0.8, 0.1, 0.2],
                   [NAN, NAN, 0.9, 0.3],
                   [0.6, 0.5, 0.7, 0.95]])


def test_unmeasured_entries_leave_the_exact_metrics_unchanged():
    b = [0.1, 0.1, 0.1, 0.1]
    for f in (M.acc, M.bwt, M.forgetting_first_based):
        assert f(R_PART) == pytest.approx(f(R_FULL))
    assert M.fwt(R_PART, b) == pytest.approx(M.fwt(R_FULL, b))
    assert M.intransigence(R_PART, [1.0] * 4) == pytest.approx(M.intransigence(R_FULL, [1.0] * 4))


def test_unmeasured_entries_are_left_out_of_maxima_and_means():
    # forgetting: task 0's best before row 3 is max(0.9, 0.7) = 0.9, task 1's 0.8, task 2's 0.9
    assert M.forgetting(R_PART) == pytest.approx(((0.9 - 0.6) + (0.8 - 0.5) + (0.9 - 0.7)) / 3)
    # the full matrix's task 1 peaks at 0.8 as well, so here the two agree
    assert M.forgetting(R_FULL) == pytest.approx(M.forgetting(R_PART))
    dr = M.diaz_rodriguez(R_PART)
    # A: the 8 measured entries of the lower triangle with the diagonal (R[2,0], R[2,1] were not measured)
    assert dr["a"] == pytest.approx((0.9 + 0.7 + 0.8 + 0.9 + 0.6 + 0.5 + 0.7 + 0.95) / 8)
    # BWT over the measured pairs i > j: (1,0), (3,0), (3,1), (3,2)
    assert dr["bwt"] == pytest.approx(((0.7 - 0.9) + (0.6 - 0.9) + (0.5 - 0.8) + (0.7 - 0.9)) / 4)
    # FWT over the measured upper entries: R[0,1], R[1,2], R[1,3], R[2,3]
    assert dr["fwt"] == pytest.approx((0.1 + 0.1 + 0.2 + 0.3) / 4)


def test_a_metric_needing_an_unmeasured_row_says_so():
    with pytest.raises(ValueError, match="row 2 must be measured"):
        M.forgetting(R_PART, k=2)
    with pytest.raises(ValueError, match="the diagonal must be measured"):
        M.diaz_rodriguez([[NAN, 0.1], [0.5, 0.6]])
    with pytest.raises(ValueError, match="numeric"):
        M.acc([["a", "b"], ["c", "d"]])
