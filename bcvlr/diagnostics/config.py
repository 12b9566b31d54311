"""The settings of the latent-action diagnostics, a config group of their own (``diagnostics:``)
beside a method's paper groups: they read the videos' action labels, which training never does,
and never change what training computes."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DiagnosticsConfig:
    enabled: bool = False  # off: training pays nothing for them
    # every probe_every latent-action updates, a linear probe decodes true actions from the
    # latent actions of held-out labelled video transitions (0 disables; needs labels)
    probe_every: int = 1000
    probe_windows: int = 1024
    # ... and the authors' probe decoder, an MLP, with at most this many updates (theirs: 3
    # epochs over up to 65,536 windows at batch 128); 0: the linear probe alone
    probe_decoder_updates: int = 1536
    # the video probe's target: the action taken this many steps before the window's last
    # transition (0: a_t, the authors'); Metaworld's hand follows its mocap target with a lag
    # (docs/experiments.md, E9)
    probe_action_lag: int = 0
    # online, every cycle: the probe on up to this many windows of the agent's own transitions
    # (fitted on even episodes, scored on odd ones), the cycle's new ones before eq. 3 trains
    # on them (probe_new) and the whole replay after (probe_replay): how much of the agent's
    # actions p's latents carry, which eq. 3 needs (a scripted expert's actions follow from the
    # scene, so the video probe can score high on latents without any motion); 0: off
    replay_probe_windows: int = 1024
    # ... with the MLP decoder too when at least 1 (~4x the ridge's time, twice per cycle)
    replay_probe_decoder_updates: int = 0

    def probing(self) -> bool:
        """Whether the video probe runs during latent-action pretraining."""
        return self.enabled and self.probe_every > 0
