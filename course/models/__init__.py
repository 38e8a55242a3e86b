"""Networks and the ``keras.Model`` of each family: cnn (lesson 01), dcgan (02), vae (03), cyclegan (04).

Nothing here knows about run folders, files or the command line: train jobs live in
:mod:`course.jobs`, checkpoints in :mod:`course.runs`.
"""
