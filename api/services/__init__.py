"""The service layer: read from storage, call the pure library, write results back.

Routers call one service function each; ``geodata/`` only stores and reads and ``routing/``
only computes, so the orchestration (import -> match -> group -> warn, city graph -> plan,
city context -> analysis -> documents) lives here and nowhere else.
"""
