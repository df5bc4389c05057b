"""Information measures: similarity-sensitive entropy and GAIT, Gaussian MI and total correlation, InfoNCE, QUE.

The Leinster-Cobbold entropy of a distribution on symbols with a similarity matrix, the GAIT
divergence built on it and the maximum-diversity distribution; closed forms for the entropy,
mutual information and total correlation of Gaussian vectors (with the signs the review gets
wrong put right); the InfoNCE lower bound on mutual information; quantum-entropy outlier scores
and a filtered robust mean. See the chapter :doc:`Comparing distributions </book/distributions>`.
"""

from ._gaussian import gaussian_entropy, gaussian_mutual_information, gaussian_total_correlation, infonce_bound
from ._que import RobustMeanResult, que_robust_mean, que_scores
from ._similarity import MaxDiversityResult, gait_divergence, max_diversity, similarity_entropy

__all__ = [
    "MaxDiversityResult",
    "RobustMeanResult",
    "gait_divergence",
    "gaussian_entropy",
    "gaussian_mutual_information",
    "gaussian_total_correlation",
    "infonce_bound",
    "max_diversity",
    "que_robust_mean",
    "que_scores",
    "similarity_entropy",
]
