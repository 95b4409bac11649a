"""Default numbers the command line's help states and a layer below it applies, defined
once here at the bottom, so that the grammar (:mod:`regbench.cli.arguments`) shows them
without importing the execution machinery or the outputs."""

PAIR_TIMEOUT = 3600.0  # seconds one registration may take (Timeouts.pair); ANTs SyN on a 3D OASIS pair takes minutes
SPEED_FACTOR = 1.5  # regbench compare: allowed growth of the speed ratio (Thresholds.speed_factor)
# --export FORMAT: what each writes, per method, into DIR/<method>/ (regbench.outputs.fields.ExportTarget)
EXPORT_FORMATS = {
    "l2r": "Learn2Reg's submission layout, disp_FFFF_MMMM.nii.gz",
    "itk": "ITK displacement-field transforms as ANTs writes its warps, "
           "sub-<moving>_from-<moving>_to-<fixed>_mode-image_xfm.nii.gz",
    "itk-h5": "the same as ITK's .h5 transform files (needs pip install 'regbench[itk]')",
}
# A run whose output goes to a file logs a progress line at most this often (seconds)
# while a network trains and while pairs are registered (regbench.common.throttle).
LOG_EVERY = 30.0
