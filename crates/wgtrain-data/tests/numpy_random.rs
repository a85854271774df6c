mod common;

use common::{fixture_json, json_i64s};
use wgtrain_data::RandomState;

fn as_usize(values: Vec<i64>) -> Vec<usize> {
    values.into_iter().map(|v| v as usize).collect()
}

#[test]
fn first_draws_match_numpy() {
    let fixture = fixture_json("imdb_fixture.json");
    let expected = json_i64s(&fixture["random"]["seed113_first_u32"]);
    let mut rng = RandomState::new(113).unwrap();
    let got: Vec<i64> = (0..expected.len())
        .map(|_| i64::from(rng.next_u32()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn keras_imdb_shuffles_match_numpy() {
    let fixture = fixture_json("imdb_fixture.json");
    let random = &fixture["random"];
    let mut rng = RandomState::new(113).unwrap();
    let train = rng.shuffled_indices(25_000);
    let test = rng.shuffled_indices(25_000);
    for (name, perm) in [("train", &train), ("test", &test)] {
        let head = as_usize(json_i64s(&random[format!("seed113_{name}_head")]));
        let tail = as_usize(json_i64s(&random[format!("seed113_{name}_tail")]));
        assert_eq!(perm[..head.len()], head[..], "{name} head");
        assert_eq!(perm[perm.len() - tail.len()..], tail[..], "{name} tail");
        let mut sorted = perm.clone();
        sorted.sort_unstable();
        assert!(
            sorted.iter().copied().eq(0..25_000),
            "{name} is a permutation"
        );
    }
}

#[test]
fn small_shuffles_match_numpy_for_several_seeds() {
    let fixture = fixture_json("imdb_fixture.json");
    let by_seed = fixture["random"]["shuffle20_by_seed"].as_object().unwrap();
    assert_eq!(by_seed.len(), 4);
    for (seed, expected) in by_seed {
        let mut rng = RandomState::new(seed.parse().unwrap()).unwrap();
        let mut items: Vec<usize> = (0..20).collect();
        rng.shuffle(&mut items);
        assert_eq!(items, as_usize(json_i64s(expected)), "seed {seed}");
    }
}
