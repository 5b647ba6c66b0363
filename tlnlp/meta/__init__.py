"""Meta-learning: MAML (second- and first-order), Reptile, and the prototypical-network baseline.

>>> from tlnlp.meta import MAML, Task, reptile_step, prototypes, prototype_logits
"""

from .episodes import episode_accuracies, episode_task
from .maml import MAML, Task, adapt
from .protonet import prototype_logits, prototypes
from .reptile import reptile_step

__all__ = ["MAML", "Task", "adapt", "episode_accuracies", "episode_task", "prototype_logits", "prototypes", "reptile_step"]
