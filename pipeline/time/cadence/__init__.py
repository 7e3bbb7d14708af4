"""Cadence: what the input's frames are in time (:mod:`.analysis`), the stage that turns decoded frames
into the frames the scheduler sees (:mod:`.retime`), and the libavfilter graphs it runs (:mod:`.fieldops`).
"""
