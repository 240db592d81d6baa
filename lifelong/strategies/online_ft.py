"""Online fine-tuning after meta-training: the fine-tuning baseline of OSAKA (Caccia et al. 2020, "Online
Fast Adaptation and Knowledge Accumulation (OSAKA): a New Approach to Continual Learning", NeurIPS)."""
from lifelong.strategies.maml import MAML


class OnlineFineTuning(MAML):
    """MAML's pretraining (``pretrain``), then one step of the outer optimizer on each incoming batch's
    loss, the network itself moving: no inner loop and no meta-update on the stream. With
    ``pretrain_steps: 0`` it is OSAKA's online SGD, from a random initialisation."""

    def learn_batch(self, x, y, t=None):
        self.see_labels(y)
        opt = self.online_optimizer(self.meta_parameters())
        loss = self.episode_loss(self.net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()
