"""filmrt.pipeline.io: what touches media files: probe, decode, the output decision, encode and mux.

- :mod:`.probe`: THE probe (what a file holds, measured from its packets).
- :mod:`.decode` (+ :mod:`.dali`): frames with exact timestamps out of any container.
- :mod:`.formats` and :mod:`.streams`: the output decision (container, encoder, every input stream's fate).
- :mod:`.encode`: RGB(A) frames -> encoder -> muxer, with the copied streams.
- :mod:`.colour`, :mod:`.pixels`, :mod:`.hdr`, :mod:`.captions`, :mod:`.extras`: what rides along with
  the picture (colour conversion, pixel formats, HDR side data, A/53 captions, chapters/attachments).
"""
