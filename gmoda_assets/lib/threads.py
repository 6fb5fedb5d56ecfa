"""Numerical libraries held to one thread while a model fits or predicts."""


def one_thread():
    """scikit-learn's OpenMP loops and NumPy's and SciPy's BLAS on one thread each, for the ``with`` block. Their
    worker threads spin while they wait, and on cores that other processes share that costs many times the work
    (measured at Greater Manchester scale under a load of 9 on the 2-core machine: gradient boosting 41 CPU
    seconds on two threads against 7 on one, the logistic regression 7.6 against 3.3; a tree-based utility
    measure 40 s against 2 s); on an idle machine the second thread gains little. It limits the libraries
    loaded when it is entered: enter it once the estimator's module is imported."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)
