"""Row layout: a newline after every grid row, tiles stitched on their canvas before the global view,
separator last."""

import pytest
import torch

from encoder.layout import (
    merge_image_rows,
    tile_rows,
    v1_global_tokens,
    v1_image_rows,
    v1_row_count,
    view_rows,
)

D = 4
NEWLINE = torch.full((D,), -1.0)
SEP = torch.full((D,), -2.0)


def tokens(view: int, height: int, width: int) -> torch.Tensor:
    """Token (view, r, c) encoded in its first three features."""
    grid = torch.zeros(height, width, D)
    grid[..., 0] = view
    grid[..., 1] = torch.arange(height)[:, None]
    grid[..., 2] = torch.arange(width)[None, :]
    return grid.reshape(height * width, D)


def is_newline(row: torch.Tensor) -> bool:
    return bool(torch.equal(row, NEWLINE))


def test_view_rows_put_a_newline_after_each_grid_row():
    rows = view_rows(tokens(0, 3, 5), (3, 5), NEWLINE)
    assert rows.shape == (3 * 6, D)
    newline_at = [i for i in range(rows.shape[0]) if is_newline(rows[i])]
    assert newline_at == [5, 11, 17]
    assert rows[6, 1] == 1 and rows[6, 2] == 0  # second grid row starts after the first newline


def test_single_view_page_ends_with_the_separator():
    rows = v1_image_rows(tokens(9, 4, 4), (4, 4), NEWLINE, SEP)
    assert rows.shape[0] == v1_row_count((4, 4)) == 4 * 5 + 1
    assert torch.equal(rows[-1], SEP) and not any(torch.equal(r, SEP) for r in rows[:-1])


def test_tiles_come_first_stitched_on_their_canvas():
    across, down, t = 3, 2, 2
    tiles = torch.stack([tokens(k + 1, t, t) for k in range(across * down)])  # tile k = view k+1, row-major
    rows = v1_image_rows(
        tokens(0, 4, 4), (4, 4), NEWLINE, SEP, tiles=tiles, tile_grid=(t, t), layout=(across, down)
    )
    n_tile_rows = down * t * (across * t + 1)
    assert rows.shape[0] == n_tile_rows + 4 * 5 + 1 == v1_row_count((4, 4), (t, t), (across, down))
    canvas = rows[:n_tile_rows].reshape(down * t, across * t + 1, D)
    assert all(is_newline(r) for r in canvas[:, -1])
    # canvas cell (y, x) holds tile (y // t) * across + x // t at its (y % t, x % t)
    for y in range(down * t):
        for x in range(across * t):
            cell = canvas[y, x]
            assert cell[0] == (y // t) * across + x // t + 1 and cell[1] == y % t and cell[2] == x % t
    assert bool(
        (rows[n_tile_rows:-1][:, 0] <= 0).all()
    )  # global view (view 0) + its newlines after the tiles
    assert torch.equal(rows[-1], SEP)


def test_tile_count_must_fill_the_layout():
    with pytest.raises(ValueError, match="do not fill"):
        tile_rows(torch.zeros(5, 4, D), (2, 2), (3, 2), NEWLINE)


def test_global_tokens_come_back_out_of_the_rows():
    glob = tokens(0, 3, 3)
    tiles = torch.stack([tokens(1, 2, 2), tokens(2, 2, 2)])
    rows = v1_image_rows(glob, (3, 3), NEWLINE, SEP, tiles=tiles, tile_grid=(2, 2), layout=(2, 1))
    assert torch.equal(v1_global_tokens(rows, (3, 3)), glob)


class _Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(10, D)
        self.config = type("C", (), {"image_token_id": 7})()

    def get_input_embeddings(self):
        return self.embed


def test_merge_image_rows_scatters_in_reading_order_and_checks_counts():
    toy = _Toy()
    ids = torch.tensor([[1, 7, 7, 2], [7, 3, 4, 5]])
    rows = [torch.ones(2, D), torch.full((1, D), 5.0)]
    merged = merge_image_rows(toy, ids, rows)
    assert torch.equal(merged[0, 1:3], torch.ones(2, D)) and torch.equal(merged[1, 0], torch.full((D,), 5.0))
    assert torch.equal(merged[0, 0], toy.embed.weight[1])
    with pytest.raises(ValueError, match="3 <image> tokens"):
        merge_image_rows(toy, ids, rows[:1])
