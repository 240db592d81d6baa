"""Other continual-learning libraries, in and out, in one place. Each is imported only when used.

Avalanche 0.6.0 (``pip install avalanche-lib``):

* ``from_avalanche(benchmark)`` (``avalanche_streams``): an Avalanche benchmark as a lifelong ``Stream``;
* ``AvalancheStrategy`` (``avalanche_strategies``): an Avalanche strategy learning a lifelong stream,
  what the ``strategies/avalanche-*.yaml`` presets (``strategy: avalanche``) configure.
"""
from lifelong.interop.avalanche_strategies import AvalancheStrategy
from lifelong.interop.avalanche_streams import from_avalanche

__all__ = ["from_avalanche", "AvalancheStrategy"]
