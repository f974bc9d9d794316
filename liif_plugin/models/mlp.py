"""The decoder MLP: Linear/ReLU pairs, named ``layers.{0,2,4,...}`` like the official files."""

from torch import nn

from liif_plugin.models.builders import register


class MLP(nn.Module):
    def __init__(self, in_dim, out_dim, hidden_list):
        super().__init__()
        layers = []
        last = in_dim
        for hidden in hidden_list:
            layers += [nn.Linear(last, hidden), nn.ReLU()]
            last = hidden
        layers.append(nn.Linear(last, out_dim))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


@register("mlp")
def mlp(in_dim, out_dim, hidden_list):
    return MLP(in_dim, out_dim, list(hidden_list))
