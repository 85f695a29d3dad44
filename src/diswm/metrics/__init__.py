"""Disentanglement metrics on arrays in the scikit-learn layout (rows are samples), numerically following
google-research/disentanglement_lib: MIG, DCI and SAP.

Codes are float ``[N, C]`` (the encoder mean), factors integer classes ``[N, K]``.
"""

from diswm.metrics.dci import dci, dci_completeness, dci_disentanglement
from diswm.metrics.discretize import discrete_entropy, discrete_mutual_info, histogram_discretize
from diswm.metrics.mig import mig
from diswm.metrics.sap import sap

__all__ = [
    "dci", "dci_completeness", "dci_disentanglement", "discrete_entropy", "discrete_mutual_info",
    "histogram_discretize", "mig", "sap",
]
