"""School readiness: whether a child will reach a Good Level of Development at the end of Reception, predicted
before school from the linked conformed facts (schema ``model``, purpose ``school_readiness``)."""
