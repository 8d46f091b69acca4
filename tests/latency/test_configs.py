"""The random networks that sample kernel configurations: reproducible, and every fourth a
tail (a small map with many channels, where kernels wait for their weights)."""

from __future__ import annotations

from edgeloop.latency.configs import TAIL_SHARE, TAIL_SIZES, random_networks


def test_every_fourth_network_is_a_tail_of_small_maps_and_wide_layers():
    networks = random_networks(2 * TAIL_SHARE, seed=3)
    for i, net in enumerate(networks):
        side, channels = net.input_shape[1], net.input_shape[-1]
        if i % TAIL_SHARE == TAIL_SHARE - 1:
            assert side in TAIL_SIZES and channels >= 64
            assert max(w.shape[-1] for w in net.get_weights() if w.ndim == 4) >= 64
        else:
            assert side not in (1, 2, 3) and channels in (1, 3)
    again = random_networks(2 * TAIL_SHARE, seed=3)
    assert [n.count_params() for n in networks] == [n.count_params() for n in again]
