"""The plugin author's surface: hook specs, the Method / Dataset / Metric interfaces,
the registry plugins call, the plugin manager, option handling and the conformance
suite (:mod:`regbench.testing`). Its public names are re-exported by
:mod:`regbench`."""
