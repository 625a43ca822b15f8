"""Bibliography: every formula in overparam cites one of these keys.

Docstrings write ``[key, location]``, e.g. ``[zou-gu-2019, Lemma 4.1]``.
"""

from __future__ import annotations

REFERENCES: dict[str, str] = {
    "allen-zhu-2019": (
        "Z. Allen-Zhu, Y. Li, Z. Song. A Convergence Theory for Deep Learning via "
        "Over-Parameterization. ICML 2019. arXiv:1811.03962"
    ),
    "zou-gu-2019": (
        "D. Zou, Q. Gu. An Improved Analysis of Training Over-parameterized Deep Neural "
        "Networks. NeurIPS 2019. arXiv:1906.04688"
    ),
    "zou-2018": (
        "D. Zou, Y. Cao, D. Zhou, Q. Gu. Stochastic Gradient Descent Optimizes "
        "Over-parameterized Deep ReLU Networks. arXiv:1811.08888"
    ),
    "cao-gu-2019": (
        "Y. Cao, Q. Gu. Generalization Bounds of Stochastic Gradient Descent for Wide and Deep "
        "Neural Networks. NeurIPS 2019. arXiv:1905.13210"
    ),
    "du-2019-deep": (
        "S. S. Du, J. D. Lee, H. Li, L. Wang, X. Zhai. Gradient Descent Finds Global Minima of "
        "Deep Neural Networks. ICML 2019. arXiv:1811.03804"
    ),
    "du-2019-two-layer": (
        "S. S. Du, X. Zhai, B. Poczos, A. Singh. Gradient Descent Provably Optimizes "
        "Over-parameterized Neural Networks. ICLR 2019. arXiv:1810.02054"
    ),
    "wu-2019": (
        "X. Wu, S. S. Du, R. Ward. Global Convergence of Adaptive Gradient Methods for An "
        "Over-parameterized Neural Network. arXiv:1902.07111"
    ),
    "oymak-2019": (
        "S. Oymak, M. Soltanolkotabi. Towards moderate overparameterization: global convergence "
        "guarantees for training shallow neural networks. arXiv:1902.04674"
    ),
    "jacot-2018": (
        "A. Jacot, F. Gabriel, C. Hongler. Neural Tangent Kernel: Convergence and Generalization "
        "in Neural Networks. NeurIPS 2018. arXiv:1806.07572"
    ),
    "cho-saul-2009": "Y. Cho, L. K. Saul. Kernel Methods for Deep Learning. NeurIPS 2009.",
    "williams-1997": "C. K. I. Williams. Computing with Infinite Networks. NeurIPS 1996 (1997).",
    "daniely-2016": (
        "A. Daniely, R. Frostig, Y. Singer. Toward Deeper Understanding of Neural Networks: The "
        "Power of Initialization and a Dual View on Expressivity. NeurIPS 2016. arXiv:1602.05897"
    ),
    "lee-2019": (
        "J. Lee, L. Xiao, S. S. Schoenholz, Y. Bahri, R. Novak, J. Sohl-Dickstein, J. Pennington. "
        "Wide Neural Networks of Any Depth Evolve as Linear Models Under Gradient Descent. "
        "NeurIPS 2019. arXiv:1902.06720"
    ),
    "arora-2019": (
        "S. Arora, S. S. Du, W. Hu, Z. Li, R. Wang. Fine-Grained Analysis of Optimization and "
        "Generalization for Overparameterized Two-Layer Neural Networks. ICML 2019. "
        "arXiv:1901.08584"
    ),
    "zhang-2017": (
        "C. Zhang, S. Bengio, M. Hardt, B. Recht, O. Vinyals. Understanding deep learning "
        "requires rethinking generalization. ICLR 2017. arXiv:1611.03530"
    ),
    "novak-2020": (
        "R. Novak, L. Xiao, J. Hron, J. Lee, A. A. Alemi, J. Sohl-Dickstein, S. S. Schoenholz. "
        "Neural Tangents: Fast and Easy Infinite Neural Networks in Python. ICLR 2020. "
        "arXiv:1912.02803"
    ),
    "birgin-2000": (
        "E. G. Birgin, J. M. Martinez, M. Raydan. Nonmonotone Spectral Projected Gradient "
        "Methods on Convex Sets. SIAM J. Optim. 10(4), 2000"
    ),
    "xu-2021-gnn": (
        "K. Xu, M. Zhang, S. Jegelka, K. Kawaguchi. Optimization of Graph Neural Networks: "
        "Implicit Acceleration by Skip Connections and More Depth. ICML 2021. arXiv:2105.04550"
    ),
}


def cite(key: str) -> str:
    """Return the full reference for ``key``; raises ``KeyError`` naming the known keys."""
    try:
        return REFERENCES[key]
    except KeyError:
        raise KeyError(f"unknown reference {key!r}; known: {sorted(REFERENCES)}") from None
