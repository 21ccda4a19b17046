"""The code behind each pipeline program (extract, vae_train, series, rnn_train, train, model).

Each stage module has ``main(exp_name, argv)``; the experiment folders' scripts call it through
:func:`worldmodels.stages.common.run_entry`, with the experiment's folder as working directory.
"""
