"""Node scaling (models.tech) against the Stillmaker & Baas tables as published, not against the
model's own formula.

Source of the numbers typed below: Stillmaker & Baas, "Scaling equations for the accurate
prediction of CMOS device performance from 180 nm to 7 nm", Integration 58 (2017), as transcribed
in UCLA NanoCAD's nodeScale (``nodeScale.py``, MIT licence): the rows of ``depCoeffDict`` (ten
coefficients per node: delay [0:4], energy [4:7], power [7:10]) and of ``areaDict``, copied
verbatim. nodeScale's ``convert('energy', v, src, dst, srcVdd, dstVdd)`` evaluates
``row[4]*V**2 + row[5]*V + row[6]`` for each node and scales by dst / src; ``'d'`` evaluates
``row[0]*V**3 + row[1]*V**2 + row[2]*V + row[3]``; ``'area'`` divides by ``areaDict[dst][src]``.
"""

import math

import pytest

from models import tech

# nodeScale depCoeffDict rows, verbatim
DEP_COEFF = {
    "180":  [0, 97.09, -356.7, 406.5, 0, 24.64, -17.98, 0, 101000, -79720],
    "HP45": [-501.6, 1567, -1619, 566.1, 1.018, -0.3107, 0.1539, 5462, -1760, 522.4],
    "HP7":  [-28.58, 76.6, -70.26, 24.69, 0.1776, -0.09097, 0.02447, 1179, -515.7, 123.4],
}
# nodeScale areaDict entries used: areaDict['45']['180'], areaDict['7']['45'], areaDict['7']['180']
AREA_DIVISOR = {("45", "180"): 19, ("7", "45"): 17, ("7", "180"): 320}


def _node_scale_energy(node, v):
    row = DEP_COEFF[node]
    return row[4] * v ** 2 + row[5] * v + row[6]


def _node_scale_delay(node, v):
    row = DEP_COEFF[node]
    return row[0] * v ** 3 + row[1] * v ** 2 + row[2] * v + row[3]


def test_energy_fits_are_the_published_rows():
    for node in DEP_COEFF:
        assert tech.STILLMAKER_ENERGY_FIT[node] == tuple(DEP_COEFF[node][4:7]), node
        assert tech.STILLMAKER_DELAY_FIT[node] == tuple(DEP_COEFF[node][0:4]), node
    # the 180 nm energy fit is linear in V: 24.64 * 1.8 - 17.98 = 26.372 (by hand)
    assert math.isclose(tech.stillmaker_energy("180", 1.8), 26.372)
    # HP45 at 0.9 V: 1.018 * 0.81 - 0.3107 * 0.9 + 0.1539 = 0.69885 (by hand)
    assert math.isclose(tech.stillmaker_energy("HP45", 0.9), 0.69885)
    # HP7 at 0.7 V: 0.1776 * 0.49 - 0.09097 * 0.7 + 0.02447 = 0.047815 (by hand)
    assert math.isclose(tech.stillmaker_energy("HP7", 0.7), 0.047815)


@pytest.mark.parametrize("name, dst, src", [
    ("scale.energy.180_1v8_to_45_0v9", ("HP45", 0.9), ("180", 1.8)),
    ("scale.energy.45_to_7", ("HP7", 0.7), ("HP45", 0.9)),
])
def test_energy_scaling_matches_node_scale(name, dst, src):
    expected = _node_scale_energy(*dst) / _node_scale_energy(*src)
    assert math.isclose(tech.value(name), expected)


def test_energy_scaling_by_hand():
    """The ratios from the hand-computed fit values above: 180 nm / 1.8 V -> 45 nm / 0.9 V is
    0.69885 / 26.372 = 0.0265 (the old quadratic misreading gave 0.0147, 1.8x too low)."""
    assert math.isclose(tech.value("scale.energy.180_1v8_to_45_0v9"), 0.69885 / 26.372)
    assert math.isclose(tech.value("scale.energy.45_to_7"), 0.047815 / 0.69885)
    assert tech.energy_scale(7) == tech.value("scale.energy.45_to_7")


@pytest.mark.parametrize("name, dst, src", [
    ("scale.delay.180_1v8_to_45_0v9", ("HP45", 0.9), ("180", 1.8)),
    ("scale.delay.45_to_7", ("HP7", 0.7), ("HP45", 0.9)),
])
def test_delay_scaling_matches_node_scale(name, dst, src):
    assert math.isclose(tech.value(name), _node_scale_delay(*dst) / _node_scale_delay(*src))


def test_area_scaling_is_the_published_table():
    assert math.isclose(tech.value("scale.area.180_to_45"), 1 / AREA_DIVISOR[("45", "180")])
    assert math.isclose(tech.area_scale(7), 1 / AREA_DIVISOR[("7", "45")])
    # chaining 180 -> 45 -> 7 agrees with the table's direct 180 -> 7 entry within 1 %
    chained = tech.value("scale.area.180_to_45") * tech.area_scale(7)
    assert abs(chained * AREA_DIVISOR[("7", "180")] - 1) < 0.01


def test_nodes_scale_down_monotonically():
    areas = [tech.area_scale(n) for n in (45, 28, 22, 7)]
    energies = [tech.energy_scale(n) for n in (45, 28, 22, 7)]
    assert areas == sorted(areas, reverse=True) and energies == sorted(energies, reverse=True)
    assert tech.delay_scale(45) == 1 and tech.delay_scale(7) < 1
    with pytest.raises(tech.UnknownComponentError, match="28 nm"):
        tech.delay_scale(28)
