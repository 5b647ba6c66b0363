"""Meta-learning: MAML (second- and first-order), Reptile, prototypical networks and ProtoMAML,
meta-trained by one outer loop, :func:`meta_train`.

>>> from tlnlp.meta import MAML, Task, reptile_step, prototypes, prototype_logits
"""

from .episodes import episode_accuracies, episode_task
from .layers import SD_FLOOR, CachedInputs, TopLayers, hidden_below
from .maml import MAML, Task, adapt, inner_rates
from .outer import meta_train
from .protomaml import ProtoMAML, proto_head, protonet_logits, protonet_loss
from .protonet import prototype_logits, prototypes
from .reptile import reptile_step

__all__ = [
    "CachedInputs", "MAML", "SD_FLOOR", "TopLayers", "hidden_below", "ProtoMAML", "Task", "adapt", "episode_accuracies", "episode_task", "inner_rates", "meta_train", "proto_head", "protonet_logits",
    "protonet_loss", "prototype_logits", "prototypes", "reptile_step",
]
