import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from course_utils import plotting  # noqa: E402


def test_live_loss_plot_records_outside_a_notebook():
    plot = plotting.LiveLossPlot()
    for step in range(5):
        plot.update(loss=1.0 / (step + 1), val_loss=2.0)
    plot.close()
    assert plot.history["loss"] == [1.0, 0.5, 1 / 3, 0.25, 0.2] and len(plot.history["val_loss"]) == 5
    figure = plot.figure()
    assert len(figure.axes[0].lines) == 2


def test_image_grid_and_decision_boundary():
    figure = plotting.show_images(np.zeros((5, 8, 8)), labels=list("abcde"), ncols=3)
    assert len(figure.axes) == 6 and figure.axes[0].get_title() == "a"
    x = np.array([[0, 0], [1, 1], [0, 1], [1, 0]], dtype=np.float32)
    ax = plotting.plot_decision_boundary(lambda p: (p[:, 0] > 0.5).astype(float), x, np.array([0, 1, 0, 1]))
    assert ax.collections
